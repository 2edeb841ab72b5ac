//! CMAP against a real daemon: every value type, exact bits, any length,
//! iteration, and tracking.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use corosync::cmap::{Cmap, Map, TrackEventKind, TrackType, Value, ValueType, MAX_VALUE_LEN};
use corosync::{DispatchMode, Error};
use corosync_tests::bounded::{returns_within, NO_HANG};
use corosync_tests::events::WAIT;
use corosync_tests::{pump, Cluster};

#[test]
fn every_value_type_round_trips_exactly() {
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            let cmap = Cmap::new().unwrap();
            let values = [
                ("test.i8", Value::I8(i8::MIN)),
                ("test.u8", Value::U8(u8::MAX)),
                ("test.i16", Value::I16(-12345)),
                ("test.u16", Value::U16(54321)),
                ("test.i32", Value::I32(i32::MIN)),
                ("test.u32", Value::U32(u32::MAX)),
                ("test.i64", Value::I64(i64::MIN)),
                ("test.u64", Value::U64(u64::MAX)),
                ("test.float", Value::Float(3.25)),
                ("test.double", Value::Double(-1e300)),
                ("test.string", Value::string("hello cmap")),
                ("test.binary", Value::Binary(vec![0, 1, 2, 0, 255, 0])),
            ];
            for (key, value) in &values {
                cmap.set(key, value).unwrap();
                assert_eq!(&cmap.get(key).unwrap(), value, "{key}");
                let (kind, len) = cmap.value_info(key).unwrap();
                assert_eq!(kind, value.value_type());
                assert_eq!(len, value.to_wire().unwrap().len());
            }
            // The typed C accessors agree.
            assert_eq!(cmap.get_i8("test.i8").unwrap(), i8::MIN);
            assert_eq!(cmap.get_u8("test.u8").unwrap(), u8::MAX);
            assert_eq!(cmap.get_i16("test.i16").unwrap(), -12345);
            assert_eq!(cmap.get_u16("test.u16").unwrap(), 54321);
            assert_eq!(cmap.get_i32("test.i32").unwrap(), i32::MIN);
            assert_eq!(cmap.get_u32("test.u32").unwrap(), u32::MAX);
            assert_eq!(cmap.get_i64("test.i64").unwrap(), i64::MIN);
            assert_eq!(cmap.get_u64("test.u64").unwrap(), u64::MAX);
            assert_eq!(cmap.get_f32("test.float").unwrap(), 3.25);
            assert_eq!(cmap.get_f64("test.double").unwrap(), -1e300);
            assert_eq!(cmap.get_string("test.string").unwrap(), b"hello cmap");
            cmap.set_i8("typed.i8", -1).unwrap();
            cmap.set_u8("typed.u8", 1).unwrap();
            cmap.set_i16("typed.i16", -2).unwrap();
            cmap.set_u16("typed.u16", 2).unwrap();
            cmap.set_i32("typed.i32", -3).unwrap();
            cmap.set_u32("typed.u32", 3).unwrap();
            cmap.set_i64("typed.i64", -4).unwrap();
            cmap.set_u64("typed.u64", 4).unwrap();
            cmap.set_f32("typed.float", 0.5).unwrap();
            cmap.set_f64("typed.double", 0.25).unwrap();
            cmap.set_string("typed.string", "text").unwrap();
            cmap.set_binary("typed.binary", b"\0bin\0").unwrap();
            assert_eq!(cmap.get("typed.i16").unwrap(), Value::I16(-2));
            assert_eq!(cmap.get("typed.u64").unwrap(), Value::U64(4));
            assert_eq!(cmap.get("typed.string").unwrap().as_str(), Some("text"));
            assert_eq!(
                cmap.get("typed.binary").unwrap(),
                Value::Binary(b"\0bin\0".to_vec())
            );

            // NaN and infinities keep their bits.
            for bits in [0x7fc0_0001u32, 0xff80_0000, 0x7f80_0000] {
                cmap.set_f32("test.fbits", f32::from_bits(bits)).unwrap();
                assert_eq!(cmap.get_f32("test.fbits").unwrap().to_bits(), bits);
            }
            for bits in [0x7ff8_0000_0000_0abcu64, 0xfff0_0000_0000_0000] {
                cmap.set("test.dbits", &Value::Double(f64::from_bits(bits)))
                    .unwrap();
                let Value::Double(back) = cmap.get("test.dbits").unwrap() else {
                    panic!("type")
                };
                assert_eq!(back.to_bits(), bits);
            }

            // Values come back whole up to corosync's largest (16 KiB; a
            // string's NUL is not counted, as with the C library), and
            // larger ones are refused with the limit named.
            let long: Vec<u8> = (0..MAX_VALUE_LEN).map(|i| b'a' + (i % 26) as u8).collect();
            cmap.set_string("test.long", &long).unwrap();
            assert_eq!(cmap.get_string("test.long").unwrap(), long);
            assert_eq!(cmap.get("test.long").unwrap(), Value::String(long.clone()));
            let other: Vec<u8> = long.iter().rev().copied().collect();
            cmap.set("test.long", &Value::String(other.clone()))
                .unwrap();
            assert_eq!(cmap.get_string("test.long").unwrap(), other);
            let blob: Vec<u8> = (0..MAX_VALUE_LEN as u32).map(|i| (i % 7) as u8).collect();
            cmap.set_binary("test.blob", &blob).unwrap();
            assert_eq!(cmap.get("test.blob").unwrap(), Value::Binary(blob));
            let too_long = vec![b'x'; MAX_VALUE_LEN + 1];
            let refused = Err(Error::MessageTooLarge {
                len: MAX_VALUE_LEN + 1,
                max: MAX_VALUE_LEN,
            });
            assert_eq!(cmap.set_string("test.toolong", &too_long), refused);
            assert_eq!(cmap.set("test.toolong", &Value::String(too_long)), refused);
            assert!(matches!(
                cmap.set_binary("test.toolong", &vec![0; 100 * 1024]),
                Err(Error::MessageTooLarge { .. })
            ));
            // What corosync itself answers past the limit, for the record.
            let raw_key = std::ffi::CString::new("test.toolong").unwrap();
            let big = vec![1u8; MAX_VALUE_LEN + 1];
            // SAFETY: live handle; `big` is readable for its length.
            let rc = unsafe {
                corosync::sys::cmap_set(
                    cmap.as_raw(),
                    raw_key.as_ptr(),
                    big.as_ptr().cast(),
                    big.len(),
                    corosync::sys::CMAP_VALUETYPE_BINARY,
                )
            };
            assert_eq!(rc, corosync::sys::CS_ERR_INVALID_PARAM);

            // inc/dec, wrapping as the C type does.
            cmap.set_u8("test.counter", 255).unwrap();
            cmap.inc("test.counter").unwrap();
            assert_eq!(cmap.get_u8("test.counter").unwrap(), 0);
            cmap.dec("test.counter").unwrap();
            assert_eq!(cmap.get_u8("test.counter").unwrap(), 255);
            cmap.set_i32("test.signed", i32::MIN).unwrap();
            cmap.dec("test.signed").unwrap();
            assert_eq!(cmap.get_i32("test.signed").unwrap(), i32::MAX);
            assert_eq!(
                cmap.inc("test.string"),
                Err(Error::InvalidParam),
                "inc of a string"
            );

            // Wrong types name the stored type.
            assert_eq!(
                cmap.get_u32("test.string"),
                Err(Error::WrongType {
                    expected: "u32",
                    found: "str"
                })
            );
            assert_eq!(
                cmap.get_string("test.u8"),
                Err(Error::WrongType {
                    expected: "str",
                    found: "u8"
                })
            );

            // Delete.
            cmap.delete("test.u32").unwrap();
            assert_eq!(cmap.get("test.u32"), Err(Error::NotExist));
            assert_eq!(cmap.get_u32("test.u32"), Err(Error::NotExist));
            assert_eq!(cmap.delete("test.u32"), Err(Error::NotExist));

            // Bad keys and values never reach the daemon.
            assert!(matches!(
                cmap.set_u8("no spaces", 1),
                Err(Error::InvalidInput { .. })
            ));
            assert!(matches!(
                cmap.set_u8("ab", 1),
                Err(Error::InvalidInput { .. })
            ));
            assert!(matches!(
                cmap.get("k".repeat(256)),
                Err(Error::TooLong { .. })
            ));
            assert!(matches!(cmap.get("a\0b"), Err(Error::InteriorNul { .. })));
            assert!(matches!(
                cmap.set_string("test.nul", b"a\0b"),
                Err(Error::InteriorNul { .. })
            ));
            assert!(matches!(
                cmap.set("test.nul", &Value::String(b"a\0b".to_vec())),
                Err(Error::InteriorNul { .. })
            ));
            assert_eq!(
                cmap.get("test.nul"),
                Err(Error::NotExist),
                "nothing truncated was stored"
            );

            // The configuration is there, and the stats map is readable.
            assert_eq!(
                cmap.get_string("totem.cluster_name").unwrap(),
                cluster.name().as_bytes()
            );
            assert_eq!(cmap.get_u32("runtime.votequorum.this_node_id").unwrap(), 1);
            let stats = Cmap::with_map(Map::Stats).unwrap();
            let keys: Vec<_> = stats
                .iter("stats.")
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(keys.len() > 10, "stats keys: {}", keys.len());
            let srp = keys
                .iter()
                .find(|k| k.key == b"stats.srp.mcast_tx")
                .expect("stats.srp.mcast_tx");
            assert_eq!(srp.value_type, ValueType::U64);
            assert!(stats.get_u64("stats.srp.mcast_tx").unwrap() > 0);
        })
        .unwrap();
}

#[test]
fn iteration_by_prefix_and_early_drop() {
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            let cmap = Cmap::new().unwrap();
            for i in 0..20u32 {
                cmap.set_u32(format!("iter.key{i:02}"), i).unwrap();
            }
            cmap.set_string("iter.other.name", "x").unwrap();
            let keys: Vec<_> = cmap
                .iter("iter.key")
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(keys.len(), 20);
            assert!(keys
                .iter()
                .all(|k| k.value_type == ValueType::U32 && k.value_len == 4));
            // The value on request.
            for k in &keys {
                let n: u32 = k.key_str().unwrap()["iter.key".len()..].parse().unwrap();
                assert_eq!(k.value(&cmap).unwrap(), Value::U32(n));
            }
            let mut names: Vec<String> = keys
                .iter()
                .map(|k| String::from_utf8(k.key.clone()).unwrap())
                .collect();
            names.sort();
            assert_eq!(names[0], "iter.key00");
            assert_eq!(cmap.iter("iter.").unwrap().count(), 21);
            assert!(cmap.iter("").unwrap().count() > 50, "every key");
            assert_eq!(cmap.iter("no.such.prefix.").unwrap().count(), 0);
            // Dropped early, many times: each drop finalizes.
            for _ in 0..300 {
                let mut it = cmap.iter("iter.").unwrap();
                assert!(it.next().is_some());
            }
            cmap.iter("iter.").unwrap().finalize().unwrap();
        })
        .unwrap();
}

type Events = Arc<Mutex<Vec<(u8, TrackEventKind, String, Option<Value>, Option<Value>)>>>;

#[test]
fn tracking_keys_and_prefixes() {
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            let cmap = Cmap::new().unwrap();
            let events: Events = Arc::default();
            let recorder = |tag: u8| {
                let events = events.clone();
                move |_: &Cmap, ev: &corosync::cmap::TrackEvent<'_>| {
                    events.lock().unwrap().push((
                        tag,
                        ev.kind,
                        String::from_utf8_lossy(ev.key).into_owned(),
                        ev.new_value.map(|v| v.to_value().unwrap()),
                        ev.old_value.map(|v| v.to_value().unwrap()),
                    ))
                }
            };
            let all = TrackType::ADD | TrackType::MODIFY | TrackType::DELETE;
            let single = cmap.track_add("track.one", all, recorder(1)).unwrap();
            let prefix = cmap
                .track_add("track.", all | TrackType::PREFIX, recorder(2))
                .unwrap();
            let other = cmap
                .track_add("elsewhere.", all | TrackType::PREFIX, recorder(3))
                .unwrap();

            cmap.set_u32("track.one", 1).unwrap();
            cmap.set_u32("track.one", 2).unwrap();
            cmap.set_string("track.two", "b").unwrap();
            cmap.delete("track.one").unwrap();
            assert!(pump(&cmap, || events.lock().unwrap().len() >= 7));
            let seen = std::mem::take(&mut *events.lock().unwrap());
            let of = |tag: u8| {
                seen.iter()
                    .filter(|e| e.0 == tag)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let one = of(1);
            assert_eq!(one.len(), 3, "{one:?}");
            assert_eq!(one[0].1, TrackEventKind::Add);
            assert_eq!(
                (one[0].3.clone(), one[0].4.clone()),
                (Some(Value::U32(1)), None)
            );
            assert_eq!(one[1].1, TrackEventKind::Modify);
            assert_eq!(
                (one[1].3.clone(), one[1].4.clone()),
                (Some(Value::U32(2)), Some(Value::U32(1)))
            );
            assert_eq!(one[2].1, TrackEventKind::Delete);
            assert_eq!(
                (one[2].3.clone(), one[2].4.clone()),
                (None, Some(Value::U32(2)))
            );
            let pre = of(2);
            assert_eq!(pre.len(), 4);
            assert!(pre
                .iter()
                .any(|e| e.2 == "track.two" && e.3 == Some(Value::string("b"))));
            assert!(
                of(3).is_empty(),
                "each registration gets only its own events"
            );

            // Dropping a registration stops its events. Events come in the
            // order of the changes, so once the prefix registration reports
            // a later change (the sentinel), the dropped one would have
            // reported its key's change already.
            drop(single);
            cmap.set_u32("track.one", 3).unwrap();
            cmap.set_u32("track.sentinel", 1).unwrap();
            let sentinel_seen = || {
                events
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|e| e.2 == "track.sentinel")
            };
            assert!(pump(&cmap, sentinel_seen));
            let seen = std::mem::take(&mut *events.lock().unwrap());
            let reports: Vec<(u8, &str)> = seen.iter().map(|e| (e.0, e.2.as_str())).collect();
            assert_eq!(
                reports,
                [(2, "track.one"), (2, "track.sentinel")],
                "{seen:?}"
            );

            // A bounded dispatch runs no more events than asked for.
            for i in 0..3u32 {
                cmap.set_u32("track.three", i).unwrap();
            }
            assert!(corosync_tests::wait_pending(&cmap, 3, WAIT));
            assert_eq!(cmap.dispatch_some(2).unwrap(), 2);
            assert_eq!(events.lock().unwrap().len(), 2);
            assert_eq!(cmap.dispatch_some(10).unwrap(), 1);
            let seen = std::mem::take(&mut *events.lock().unwrap());
            let values: Vec<_> = seen.iter().map(|e| e.3.clone()).collect();
            assert_eq!(values, [0, 1, 2].map(|i| Some(Value::U32(i))));
            drop(prefix);
            drop(other);
        })
        .unwrap();
}

#[test]
fn callbacks_add_and_remove_registrations_and_touch_keys() {
    let cluster = Cluster::single().expect("cluster");
    cluster
        .node(0)
        .run(|| {
            let cmap = Cmap::new().unwrap();
            let count = Arc::new(Mutex::new(0u32));
            let added = Arc::new(Mutex::new(None));
            let (c, a) = (count.clone(), added.clone());
            // A registration that deletes itself from inside its own callback
            // after the first event, writes a key, and adds a new one.
            let me = cmap
                .track_add(
                    "self.key",
                    TrackType::ADD | TrackType::MODIFY,
                    move |cmap, ev| {
                        *c.lock().unwrap() += 1;
                        cmap.track_delete(ev.track).unwrap();
                        cmap.set_u32("self.written", 7).unwrap();
                        assert_eq!(cmap.get_u32("self.written").unwrap(), 7);
                        let id = cmap
                            .track_add("self.next", TrackType::ADD, |_, _| {})
                            .unwrap()
                            .detach();
                        *a.lock().unwrap() = Some(id);
                        assert_eq!(
                            cmap.dispatch(DispatchMode::All),
                            Err(Error::DispatchInProgress)
                        );
                    },
                )
                .unwrap()
                .detach();
            cmap.set_u32("self.key", 1).unwrap();
            assert!(pump(&cmap, || *count.lock().unwrap() == 1));
            // Later changes of the key reach it no more: a sentinel key,
            // changed after them and tracked by another registration, is
            // reported after anything they would have caused.
            let sentinel = Arc::new(AtomicBool::new(false));
            let s = sentinel.clone();
            let _sentinel = cmap
                .track_add("self.sentinel", TrackType::ADD, move |_, _| {
                    s.store(true, Ordering::Relaxed)
                })
                .unwrap();
            for i in 2..5 {
                cmap.set_u32("self.key", i).unwrap();
            }
            cmap.set_u32("self.sentinel", 1).unwrap();
            assert!(pump(&cmap, || sentinel.load(Ordering::Relaxed)));
            assert_eq!(*count.lock().unwrap(), 1, "no events after deleting itself");
            assert_eq!(
                cmap.track_delete(me),
                Err(Error::UnknownTrack),
                "already gone"
            );
            let next = added.lock().unwrap().expect("added from the callback");
            cmap.track_delete(next).unwrap();

            // A panic in a track callback comes out of dispatch.
            let _guard = cmap
                .track_add("panic.key", TrackType::ADD, |_, _| {
                    panic!("track callback panicked")
                })
                .unwrap();
            cmap.set_u8("panic.key", 1).unwrap();
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pump(&cmap, || false)));
            assert_eq!(
                outcome.unwrap_err().downcast_ref::<&str>(),
                Some(&"track callback panicked")
            );
        })
        .unwrap();
}

#[test]
fn bad_keys_prefixes_and_flags_are_refused_and_a_stopped_daemon_answers_errors() {
    let mut cluster = Cluster::single().expect("cluster");
    let cmap = cluster.node(0).run(|| Cmap::new().unwrap()).unwrap();
    let long = "k".repeat(256);
    let too_long = |r: Result<(), Error>| {
        matches!(
            r,
            Err(Error::TooLong {
                len: 256,
                max: 255,
                ..
            })
        )
    };
    let nul = |r: Result<(), Error>| matches!(r, Err(Error::InteriorNul { position: 2, .. }));
    let invalid = |r: Result<(), Error>| matches!(r, Err(Error::InvalidInput { .. }));
    let track = |key: &str, flags: TrackType| cmap.track_add(key, flags, |_, _| {}).map(drop);
    let all = TrackType::ADD | TrackType::DELETE | TrackType::MODIFY;

    // Prefixes, for iteration and for tracking.
    assert!(too_long(cmap.iter(&long).map(drop)));
    assert!(nul(cmap.iter("ab\0c").map(drop)));
    assert!(too_long(track(&long, all | TrackType::PREFIX)));
    assert!(nul(track("ab\0c", all | TrackType::PREFIX)));
    // Keys, for tracking.
    assert!(invalid(track("", all)));
    assert!(too_long(track(&long, all)));
    assert!(nul(track("ab\0c", all)));
    // Flags that select no change: corosync would never call back.
    for flags in [TrackType::empty(), TrackType::PREFIX] {
        assert!(invalid(track("test.", flags)), "{flags:?}");
    }
    // None of that reached the daemon: the handle works.
    cmap.set_u32("test.after", 7).unwrap();
    let seen = Arc::new(Mutex::new(0));
    let s = seen.clone();
    let _guard = cmap
        .track_add("test.after", TrackType::MODIFY, move |_, _| {
            *s.lock().unwrap() += 1
        })
        .unwrap();
    cmap.set_u32("test.after", 8).unwrap();
    assert!(pump(&cmap, || *seen.lock().unwrap() == 1));

    // With the daemon gone every call answers an error at once; the
    // generous bound only tells that from a hang.
    drop(_guard);
    cluster.stop(0).unwrap();
    // (CS_ERR_LIBRARY: libqb finds the connection closed.)
    returns_within(NO_HANG, "calls on a stopped daemon", move || {
        assert_eq!(cmap.get("test.after"), Err(Error::Library));
        assert_eq!(cmap.set_u32("test.after", 9), Err(Error::Library));
        assert_eq!(cmap.iter("test.").err(), Some(Error::Library));
        assert_eq!(
            cmap.track_add("test.after", all, |_, _| {}).err(),
            Some(Error::Library)
        );
        assert_eq!(cmap.dispatch(DispatchMode::All), Err(Error::Library));
    });
}
