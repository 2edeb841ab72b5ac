//! The error type of every corosync call, and the conversion from `cs_error_t`.

use std::io;

use corosync_sys as sys;

/// The result of a corosync call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from a corosync client library or daemon, or input the bindings
/// refused before it reached the C library.
///
/// There is a variant for every `cs_error_t` code in corosync's
/// `corotypes.h`, [`Error::Unknown`] for codes a newer corosync may add, and
/// validation variants that name the limit broken. [`Error::code`] gives back
/// the raw `cs_error_t` of the first two kinds.
///
/// `Debug` shows the variant's name and the message (`Library: the client
/// library failed to talk to the corosync daemon; is it running?
/// (CS_ERR_LIBRARY)`), so that `fn main() -> corosync::Result<()>` and
/// `unwrap` report what went wrong; `Display` is the message alone.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `CS_ERR_LIBRARY`: the library could not talk to the daemon (it is not
    /// running, or it went away).
    #[error(
        "the client library failed to talk to the corosync daemon; is it running? (CS_ERR_LIBRARY)"
    )]
    Library,
    /// `CS_ERR_VERSION`: the library and daemon versions do not match.
    #[error("version mismatch between the client library and the daemon (CS_ERR_VERSION)")]
    Version,
    /// `CS_ERR_INIT`: the service was not initialized.
    #[error("the service is not initialized (CS_ERR_INIT)")]
    Init,
    /// `CS_ERR_TIMEOUT`: the request timed out.
    #[error("the request timed out (CS_ERR_TIMEOUT)")]
    Timeout,
    /// `CS_ERR_TRY_AGAIN`: the daemon is busy (for example, synchronizing a
    /// new membership, or its queues are full); the call may succeed later.
    #[error("corosync cannot do this now; try again (CS_ERR_TRY_AGAIN)")]
    TryAgain,
    /// `CS_ERR_INVALID_PARAM`: a parameter was refused.
    #[error("a parameter was refused as invalid (CS_ERR_INVALID_PARAM)")]
    InvalidParam,
    /// `CS_ERR_NO_MEMORY`: out of memory.
    #[error("out of memory (CS_ERR_NO_MEMORY)")]
    NoMemory,
    /// `CS_ERR_BAD_HANDLE`: the handle is not valid (already finalized).
    #[error("the handle is not valid (CS_ERR_BAD_HANDLE)")]
    BadHandle,
    /// `CS_ERR_BUSY`: the resource is busy.
    #[error("the resource is busy (CS_ERR_BUSY)")]
    Busy,
    /// `CS_ERR_ACCESS`: the daemon does not allow this user or group.
    #[error("access denied by the corosync daemon; run as root or add the user to uidgid.d (CS_ERR_ACCESS)")]
    Access,
    /// `CS_ERR_NOT_EXIST`: the object does not exist.
    #[error("it does not exist (CS_ERR_NOT_EXIST)")]
    NotExist,
    /// `CS_ERR_NAME_TOO_LONG`: the daemon refused a name as too long.
    #[error("the name is too long (CS_ERR_NAME_TOO_LONG)")]
    NameTooLong,
    /// `CS_ERR_EXIST`: it exists already.
    #[error("it already exists (CS_ERR_EXIST)")]
    Exist,
    /// `CS_ERR_NO_SPACE`: no space left for the result.
    #[error("no space left (CS_ERR_NO_SPACE)")]
    NoSpace,
    /// `CS_ERR_INTERRUPT`: the call was interrupted.
    #[error("the call was interrupted (CS_ERR_INTERRUPT)")]
    Interrupt,
    /// `CS_ERR_NAME_NOT_FOUND`: no such name.
    #[error("the name was not found (CS_ERR_NAME_NOT_FOUND)")]
    NameNotFound,
    /// `CS_ERR_NO_RESOURCES`: the daemon lacks the resources.
    #[error("not enough resources (CS_ERR_NO_RESOURCES)")]
    NoResources,
    /// `CS_ERR_NOT_SUPPORTED`: not supported by this daemon or configuration.
    #[error("not supported (CS_ERR_NOT_SUPPORTED)")]
    NotSupported,
    /// `CS_ERR_BAD_OPERATION`: the operation is not allowed in this state.
    #[error("the operation is not allowed now (CS_ERR_BAD_OPERATION)")]
    BadOperation,
    /// `CS_ERR_FAILED_OPERATION`: the operation failed.
    #[error("the operation failed (CS_ERR_FAILED_OPERATION)")]
    FailedOperation,
    /// `CS_ERR_MESSAGE_ERROR`: a message was malformed.
    #[error("malformed message (CS_ERR_MESSAGE_ERROR)")]
    MessageError,
    /// `CS_ERR_QUEUE_FULL`: the queue is full.
    #[error("the queue is full (CS_ERR_QUEUE_FULL)")]
    QueueFull,
    /// `CS_ERR_QUEUE_NOT_AVAILABLE`: the queue is not available.
    #[error("the queue is not available (CS_ERR_QUEUE_NOT_AVAILABLE)")]
    QueueNotAvailable,
    /// `CS_ERR_BAD_FLAGS`: the flags are not valid.
    #[error("invalid flags (CS_ERR_BAD_FLAGS)")]
    BadFlags,
    /// `CS_ERR_TOO_BIG`: the data is too big.
    #[error("too big (CS_ERR_TOO_BIG)")]
    TooBig,
    /// `CS_ERR_NO_SECTIONS`: no sections.
    #[error("no sections (CS_ERR_NO_SECTIONS)")]
    NoSections,
    /// `CS_ERR_CONTEXT_NOT_FOUND`: the context was not found.
    #[error("context not found (CS_ERR_CONTEXT_NOT_FOUND)")]
    ContextNotFound,
    /// `CS_ERR_TOO_MANY_GROUPS`: too many groups.
    #[error("too many groups (CS_ERR_TOO_MANY_GROUPS)")]
    TooManyGroups,
    /// `CS_ERR_SECURITY`: refused for security reasons.
    #[error("refused for security reasons (CS_ERR_SECURITY)")]
    Security,
    /// A `cs_error_t` value these bindings do not know (from a newer corosync).
    #[error("unknown corosync error code {0}")]
    Unknown(u32),

    /// Input longer than the C API allows; nothing was sent.
    #[error("{what} is {len} bytes long; at most {max} are allowed")]
    TooLong {
        /// What was too long (for example "CPG group name").
        what: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The most the C API allows.
        max: usize,
    },
    /// Input with a NUL byte where the C API ends strings; nothing was sent.
    #[error("{what} contains a NUL byte at offset {position}")]
    InteriorNul {
        /// What contained the NUL byte.
        what: &'static str,
        /// The offset of the first NUL byte.
        position: usize,
    },
    /// Input the C API cannot represent, for a reason other than its length.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What was refused.
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// More scatter/gather buffers than the library accepts in one call.
    #[error("{count} buffers given; at most {max} are accepted in one call")]
    TooManyBuffers {
        /// How many buffers were given.
        count: usize,
        /// The most the library accepts.
        max: usize,
    },
    /// A message larger than the library can send.
    #[error("the message is {len} bytes long; at most {max} can be sent")]
    MessageTooLarge {
        /// The message's length in bytes.
        len: usize,
        /// The largest message the library can send.
        max: usize,
    },
    /// A typed accessor met a value of another type (for example
    /// [`crate::cmap::Cmap::get_u32`] on a string key).
    #[error("the value is of type {found}, not {expected}")]
    WrongType {
        /// The type asked for (corosync-cmapctl's name: `u32`, `str`, ...).
        expected: &'static str,
        /// The type stored.
        found: &'static str,
    },
    /// An operation that forks ([`crate::sam::Sam::register`]) was called in
    /// a process with more than one thread; nothing was forked.
    #[error("the process has {threads} threads; forking is only sound with one")]
    MultiThreaded {
        /// How many threads the process has.
        threads: usize,
    },
    /// `dispatch` was called on a handle whose dispatch is already running,
    /// from one of its own callbacks or from another thread.
    #[error("dispatch is already running on this handle (re-entrant or concurrent dispatch)")]
    DispatchInProgress,
    /// A send on a handle that is in no group: a CPG handle that has not
    /// joined (or has left), or an EVS leave of a group not joined. Nothing
    /// was sent (corosync would drop a CPG message silently).
    #[error("the handle has not joined that group")]
    NotJoined,
    /// A CPG leave naming another group than the one the handle joined
    /// (corosync would accept it and leave the connection stuck).
    #[error("the handle is in another group than the one named")]
    WrongGroup,
    /// A CPG join on a connection that has left a group before. corosync
    /// (3.1.7 and earlier releases alike) never forgets that the connection
    /// left, and libcpg repeats the join for as long as the daemon answers
    /// `CS_ERR_BUSY`, so it would never return; connect a new handle.
    #[error("the connection left a group before; corosync cannot join it again: connect anew")]
    RejoinAfterLeave,
    /// A cmap track id that is not a live registration of this handle.
    #[error("no such cmap track registration on this handle")]
    UnknownTrack,
    /// A cmap value kept changing size while it was read; the read was
    /// given up after a few attempts.
    #[error("the cmap value kept changing size while it was read")]
    ValueChanging,
    /// A second [`crate::sam::Sam`] in one process (libsam keeps one
    /// instance per process).
    #[error("SAM is already initialized in this process")]
    AlreadyInitialized,
    /// The library reported success for a zero-copy allocation but gave no
    /// buffer.
    #[error("the zero-copy buffer could not be allocated")]
    AllocationFailed,
    /// A tokio adapter was used outside a tokio runtime.
    #[error("no tokio runtime is running on this thread")]
    NoRuntime,
    /// An operating-system call of the bindings failed (waiting on a
    /// descriptor, reading `/proc`); the [`std::io::Error`] is kept.
    #[error("I/O error: {0}")]
    Io(IoError),
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {self}", self.variant_name())
    }
}

/// An [`std::io::Error`] kept in an [`Error`]: cloneable, and equal to
/// another when the kind and the OS error code are.
#[derive(Debug, Clone)]
pub struct IoError(std::sync::Arc<io::Error>);

impl IoError {
    /// The error.
    pub fn get(&self) -> &io::Error {
        &self.0
    }
}

impl PartialEq for IoError {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.raw_os_error() == other.0.raw_os_error()
    }
}

impl Eq for IoError {}

impl std::fmt::Display for IoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Error {
        Error::Io(IoError(std::sync::Arc::new(err)))
    }
}

impl Error {
    /// The error for a `cs_error_t` other than `CS_OK` (`CS_OK` itself, being
    /// no error, comes back as `Unknown(1)`).
    pub fn from_code(code: sys::cs_error_t) -> Error {
        match code {
            sys::CS_ERR_LIBRARY => Error::Library,
            sys::CS_ERR_VERSION => Error::Version,
            sys::CS_ERR_INIT => Error::Init,
            sys::CS_ERR_TIMEOUT => Error::Timeout,
            sys::CS_ERR_TRY_AGAIN => Error::TryAgain,
            sys::CS_ERR_INVALID_PARAM => Error::InvalidParam,
            sys::CS_ERR_NO_MEMORY => Error::NoMemory,
            sys::CS_ERR_BAD_HANDLE => Error::BadHandle,
            sys::CS_ERR_BUSY => Error::Busy,
            sys::CS_ERR_ACCESS => Error::Access,
            sys::CS_ERR_NOT_EXIST => Error::NotExist,
            sys::CS_ERR_NAME_TOO_LONG => Error::NameTooLong,
            sys::CS_ERR_EXIST => Error::Exist,
            sys::CS_ERR_NO_SPACE => Error::NoSpace,
            sys::CS_ERR_INTERRUPT => Error::Interrupt,
            sys::CS_ERR_NAME_NOT_FOUND => Error::NameNotFound,
            sys::CS_ERR_NO_RESOURCES => Error::NoResources,
            sys::CS_ERR_NOT_SUPPORTED => Error::NotSupported,
            sys::CS_ERR_BAD_OPERATION => Error::BadOperation,
            sys::CS_ERR_FAILED_OPERATION => Error::FailedOperation,
            sys::CS_ERR_MESSAGE_ERROR => Error::MessageError,
            sys::CS_ERR_QUEUE_FULL => Error::QueueFull,
            sys::CS_ERR_QUEUE_NOT_AVAILABLE => Error::QueueNotAvailable,
            sys::CS_ERR_BAD_FLAGS => Error::BadFlags,
            sys::CS_ERR_TOO_BIG => Error::TooBig,
            sys::CS_ERR_NO_SECTIONS => Error::NoSections,
            sys::CS_ERR_CONTEXT_NOT_FOUND => Error::ContextNotFound,
            sys::CS_ERR_TOO_MANY_GROUPS => Error::TooManyGroups,
            sys::CS_ERR_SECURITY => Error::Security,
            other => Error::Unknown(other),
        }
    }

    /// The raw `cs_error_t` this error came from, or `None` for an error the
    /// bindings raised themselves (a validation error, a refusal such as
    /// [`Error::DispatchInProgress`] or [`Error::NotJoined`], or an
    /// [`Error::Io`]).
    pub fn code(&self) -> Option<sys::cs_error_t> {
        Some(match self {
            Error::Library => sys::CS_ERR_LIBRARY,
            Error::Version => sys::CS_ERR_VERSION,
            Error::Init => sys::CS_ERR_INIT,
            Error::Timeout => sys::CS_ERR_TIMEOUT,
            Error::TryAgain => sys::CS_ERR_TRY_AGAIN,
            Error::InvalidParam => sys::CS_ERR_INVALID_PARAM,
            Error::NoMemory => sys::CS_ERR_NO_MEMORY,
            Error::BadHandle => sys::CS_ERR_BAD_HANDLE,
            Error::Busy => sys::CS_ERR_BUSY,
            Error::Access => sys::CS_ERR_ACCESS,
            Error::NotExist => sys::CS_ERR_NOT_EXIST,
            Error::NameTooLong => sys::CS_ERR_NAME_TOO_LONG,
            Error::Exist => sys::CS_ERR_EXIST,
            Error::NoSpace => sys::CS_ERR_NO_SPACE,
            Error::Interrupt => sys::CS_ERR_INTERRUPT,
            Error::NameNotFound => sys::CS_ERR_NAME_NOT_FOUND,
            Error::NoResources => sys::CS_ERR_NO_RESOURCES,
            Error::NotSupported => sys::CS_ERR_NOT_SUPPORTED,
            Error::BadOperation => sys::CS_ERR_BAD_OPERATION,
            Error::FailedOperation => sys::CS_ERR_FAILED_OPERATION,
            Error::MessageError => sys::CS_ERR_MESSAGE_ERROR,
            Error::QueueFull => sys::CS_ERR_QUEUE_FULL,
            Error::QueueNotAvailable => sys::CS_ERR_QUEUE_NOT_AVAILABLE,
            Error::BadFlags => sys::CS_ERR_BAD_FLAGS,
            Error::TooBig => sys::CS_ERR_TOO_BIG,
            Error::NoSections => sys::CS_ERR_NO_SECTIONS,
            Error::ContextNotFound => sys::CS_ERR_CONTEXT_NOT_FOUND,
            Error::TooManyGroups => sys::CS_ERR_TOO_MANY_GROUPS,
            Error::Security => sys::CS_ERR_SECURITY,
            Error::Unknown(raw) => *raw,
            Error::TooLong { .. }
            | Error::InteriorNul { .. }
            | Error::InvalidInput { .. }
            | Error::TooManyBuffers { .. }
            | Error::MessageTooLarge { .. }
            | Error::WrongType { .. }
            | Error::MultiThreaded { .. }
            | Error::DispatchInProgress
            | Error::NotJoined
            | Error::WrongGroup
            | Error::RejoinAfterLeave
            | Error::UnknownTrack
            | Error::ValueChanging
            | Error::AlreadyInitialized
            | Error::AllocationFailed
            | Error::NoRuntime
            | Error::Io(_) => return None,
        })
    }

    /// The variant's name, as written in Rust (for `Debug`).
    fn variant_name(&self) -> &'static str {
        match self {
            Error::Library => "Library",
            Error::Version => "Version",
            Error::Init => "Init",
            Error::Timeout => "Timeout",
            Error::TryAgain => "TryAgain",
            Error::InvalidParam => "InvalidParam",
            Error::NoMemory => "NoMemory",
            Error::BadHandle => "BadHandle",
            Error::Busy => "Busy",
            Error::Access => "Access",
            Error::NotExist => "NotExist",
            Error::NameTooLong => "NameTooLong",
            Error::Exist => "Exist",
            Error::NoSpace => "NoSpace",
            Error::Interrupt => "Interrupt",
            Error::NameNotFound => "NameNotFound",
            Error::NoResources => "NoResources",
            Error::NotSupported => "NotSupported",
            Error::BadOperation => "BadOperation",
            Error::FailedOperation => "FailedOperation",
            Error::MessageError => "MessageError",
            Error::QueueFull => "QueueFull",
            Error::QueueNotAvailable => "QueueNotAvailable",
            Error::BadFlags => "BadFlags",
            Error::TooBig => "TooBig",
            Error::NoSections => "NoSections",
            Error::ContextNotFound => "ContextNotFound",
            Error::TooManyGroups => "TooManyGroups",
            Error::Security => "Security",
            Error::Unknown(_) => "Unknown",
            Error::TooLong { .. } => "TooLong",
            Error::InteriorNul { .. } => "InteriorNul",
            Error::InvalidInput { .. } => "InvalidInput",
            Error::TooManyBuffers { .. } => "TooManyBuffers",
            Error::MessageTooLarge { .. } => "MessageTooLarge",
            Error::WrongType { .. } => "WrongType",
            Error::MultiThreaded { .. } => "MultiThreaded",
            Error::DispatchInProgress => "DispatchInProgress",
            Error::NotJoined => "NotJoined",
            Error::WrongGroup => "WrongGroup",
            Error::RejoinAfterLeave => "RejoinAfterLeave",
            Error::UnknownTrack => "UnknownTrack",
            Error::ValueChanging => "ValueChanging",
            Error::AlreadyInitialized => "AlreadyInitialized",
            Error::AllocationFailed => "AllocationFailed",
            Error::NoRuntime => "NoRuntime",
            Error::Io(_) => "Io",
        }
    }

    /// Whether the same call may succeed if repeated later
    /// (`CS_ERR_TRY_AGAIN`). See [`crate::Retry`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::TryAgain)
    }

    /// The kind of [`std::io::Error`] this error converts to.
    pub fn io_kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            Error::TryAgain => K::WouldBlock,
            Error::Timeout => K::TimedOut,
            Error::Access | Error::Security => K::PermissionDenied,
            Error::NotExist | Error::NameNotFound | Error::ContextNotFound => K::NotFound,
            Error::Exist => K::AlreadyExists,
            Error::Interrupt => K::Interrupted,
            Error::NoMemory | Error::AllocationFailed => K::OutOfMemory,
            Error::Io(err) => err.get().kind(),
            Error::UnknownTrack => K::NotFound,
            Error::NotJoined | Error::WrongGroup => K::NotConnected,
            Error::AlreadyInitialized => K::AlreadyExists,
            Error::NotSupported => K::Unsupported,
            Error::Library => K::ConnectionAborted,
            Error::InvalidParam
            | Error::BadFlags
            | Error::NameTooLong
            | Error::TooBig
            | Error::TooLong { .. }
            | Error::InteriorNul { .. }
            | Error::InvalidInput { .. }
            | Error::TooManyBuffers { .. }
            | Error::MessageTooLarge { .. }
            | Error::WrongType { .. } => K::InvalidInput,
            _ => K::Other,
        }
    }
}

impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        io::Error::new(err.io_kind(), err)
    }
}

/// `Ok(())` for `CS_OK`, the matching [`Error`] otherwise.
#[inline]
pub(crate) fn check(code: sys::cs_error_t) -> Result<()> {
    if code == sys::CS_OK {
        Ok(())
    } else {
        Err(Error::from_code(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code of corotypes.h (`CS_ERR_LIBRARY` = 2 up to
    /// `CS_ERR_TOO_MANY_GROUPS` = 30, and `CS_ERR_SECURITY` = 100).
    const ALL_CODES: &[sys::cs_error_t] = &[
        sys::CS_ERR_LIBRARY,
        sys::CS_ERR_VERSION,
        sys::CS_ERR_INIT,
        sys::CS_ERR_TIMEOUT,
        sys::CS_ERR_TRY_AGAIN,
        sys::CS_ERR_INVALID_PARAM,
        sys::CS_ERR_NO_MEMORY,
        sys::CS_ERR_BAD_HANDLE,
        sys::CS_ERR_BUSY,
        sys::CS_ERR_ACCESS,
        sys::CS_ERR_NOT_EXIST,
        sys::CS_ERR_NAME_TOO_LONG,
        sys::CS_ERR_EXIST,
        sys::CS_ERR_NO_SPACE,
        sys::CS_ERR_INTERRUPT,
        sys::CS_ERR_NAME_NOT_FOUND,
        sys::CS_ERR_NO_RESOURCES,
        sys::CS_ERR_NOT_SUPPORTED,
        sys::CS_ERR_BAD_OPERATION,
        sys::CS_ERR_FAILED_OPERATION,
        sys::CS_ERR_MESSAGE_ERROR,
        sys::CS_ERR_QUEUE_FULL,
        sys::CS_ERR_QUEUE_NOT_AVAILABLE,
        sys::CS_ERR_BAD_FLAGS,
        sys::CS_ERR_TOO_BIG,
        sys::CS_ERR_NO_SECTIONS,
        sys::CS_ERR_CONTEXT_NOT_FOUND,
        sys::CS_ERR_TOO_MANY_GROUPS,
        sys::CS_ERR_SECURITY,
    ];

    #[test]
    fn every_code_round_trips_to_a_named_variant() {
        assert_eq!(ALL_CODES.len(), 29);
        for &code in ALL_CODES {
            let err = Error::from_code(code);
            assert!(!matches!(err, Error::Unknown(_)), "{code} has no variant");
            assert_eq!(err.code(), Some(code));
        }
        // The library's own names appear in the messages.
        assert!(Error::from_code(sys::CS_ERR_SECURITY)
            .to_string()
            .contains("CS_ERR_SECURITY"));
        assert!(Error::from_code(sys::CS_ERR_TOO_MANY_GROUPS)
            .to_string()
            .contains("CS_ERR_TOO_MANY_GROUPS"));
    }

    #[test]
    #[cfg_attr(miri, ignore = "calls C (cs_strerror), which Miri cannot run")]
    fn the_messages_agree_with_cs_strerror_on_the_code() {
        for &code in ALL_CODES {
            // SAFETY: cs_strerror returns a pointer to a static string for
            // every value.
            let c = unsafe { std::ffi::CStr::from_ptr(sys::cs_strerror(code)) };
            let c = c.to_str().expect("cs_strerror returns ASCII");
            let name = Error::from_code(code).to_string();
            let rust_code = name
                .rsplit_once('(')
                .map(|(_, c)| c.trim_end_matches(')'))
                .expect("the message names the code");
            // cs_strerror returns the enum name, e.g. "CS_ERR_TRY_AGAIN".
            assert_eq!(c, rust_code, "code {code}");
        }
    }

    #[test]
    fn debug_shows_the_variant_and_the_message() {
        // What `fn main() -> corosync::Result<()>` prints after "Error: ".
        assert_eq!(
            format!("{:?}", Error::Library),
            "Library: the client library failed to talk to the corosync daemon; \
             is it running? (CS_ERR_LIBRARY)"
        );
        let err = Error::TooLong {
            what: "CPG group name",
            len: 129,
            max: 128,
        };
        assert_eq!(
            format!("{err:?}"),
            "TooLong: CPG group name is 129 bytes long; at most 128 are allowed"
        );
        assert_eq!(
            format!("{:?}", Err::<(), _>(Error::NotJoined)),
            "Err(NotJoined: the handle has not joined that group)"
        );
        for &code in ALL_CODES {
            let err = Error::from_code(code);
            assert_eq!(format!("{err:?}"), format!("{}: {err}", err.variant_name()));
        }
    }

    #[test]
    fn unknown_codes_keep_their_value() {
        for raw in [0, 29, 31, 99, 101, 4242] {
            let err = Error::from_code(raw);
            assert_eq!(err, Error::Unknown(raw));
            assert_eq!(err.code(), Some(raw));
            assert!(err.to_string().contains(&raw.to_string()));
        }
    }

    #[test]
    fn check_maps_ok_and_errors() {
        assert_eq!(check(sys::CS_OK), Ok(()));
        assert_eq!(check(sys::CS_ERR_TRY_AGAIN), Err(Error::TryAgain));
    }

    #[test]
    fn only_try_again_is_retryable() {
        for &code in ALL_CODES {
            let err = Error::from_code(code);
            assert_eq!(err.is_retryable(), code == sys::CS_ERR_TRY_AGAIN);
        }
        assert!(!Error::DispatchInProgress.is_retryable());
    }

    #[test]
    fn validation_errors_name_the_limit_and_have_no_code() {
        let err = Error::TooLong {
            what: "CPG group name",
            len: 129,
            max: 128,
        };
        assert_eq!(
            err.to_string(),
            "CPG group name is 129 bytes long; at most 128 are allowed"
        );
        assert_eq!(err.code(), None);
        let err = Error::InteriorNul {
            what: "cmap key",
            position: 3,
        };
        assert_eq!(err.to_string(), "cmap key contains a NUL byte at offset 3");
        let err = Error::TooManyBuffers { count: 65, max: 64 };
        assert!(err.to_string().contains("65") && err.to_string().contains("64"));
        let err = Error::MessageTooLarge { len: 10, max: 5 };
        assert!(err.to_string().contains("10") && err.to_string().contains('5'));
    }

    #[test]
    fn refusals_of_the_bindings_have_no_code_and_are_not_retryable() {
        let refusals = [
            Error::DispatchInProgress,
            Error::NotJoined,
            Error::WrongGroup,
            Error::RejoinAfterLeave,
            Error::UnknownTrack,
            Error::ValueChanging,
            Error::AlreadyInitialized,
            Error::AllocationFailed,
            Error::NoRuntime,
            Error::from(io::Error::from_raw_os_error(libc::EBADF)),
        ];
        for err in &refusals {
            assert_eq!(err.code(), None, "{err}");
            assert!(!err.is_retryable(), "{err}");
            assert!(!err.to_string().contains("CS_ERR"), "{err}");
        }
        // No two refusals share a message.
        let mut messages: Vec<String> = refusals.iter().map(ToString::to_string).collect();
        messages.sort();
        messages.dedup();
        assert_eq!(messages.len(), refusals.len());
    }

    #[test]
    fn an_io_failure_keeps_its_io_error() {
        let err = Error::from(io::Error::from_raw_os_error(libc::EBADF));
        let Error::Io(inner) = &err else {
            panic!("not Io: {err:?}")
        };
        assert_eq!(inner.get().raw_os_error(), Some(libc::EBADF));
        assert_eq!(
            err.io_kind(),
            io::Error::from_raw_os_error(libc::EBADF).kind()
        );
        assert_eq!(err, err.clone());
        assert_ne!(err, Error::from(io::Error::from_raw_os_error(libc::EINVAL)));
        assert!(err.to_string().starts_with("I/O error: "));
    }

    #[test]
    fn converts_into_io_error_keeping_the_source() {
        let io: io::Error = Error::TryAgain.into();
        assert_eq!(io.kind(), io::ErrorKind::WouldBlock);
        let inner = io.get_ref().and_then(|e| e.downcast_ref::<Error>());
        assert_eq!(inner, Some(&Error::TryAgain));
        let io: io::Error = Error::Access.into();
        assert_eq!(io.kind(), io::ErrorKind::PermissionDenied);
        let io: io::Error = Error::TooLong {
            what: "x",
            len: 2,
            max: 1,
        }
        .into();
        assert_eq!(io.kind(), io::ErrorKind::InvalidInput);
    }
}
