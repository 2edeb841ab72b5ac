/*
 * A member of the corosync-rs fault checker written in plain C against
 * libcpg. It speaks the same message format (tests/src/chaos/payload.rs)
 * and writes the same record file (tests/src/chaos/record.rs) as the Rust
 * member, so corosync's own behaviour can be told from the bindings'.
 *
 *   chaos_member <name> <group hex> <record file> <seed> <pace> <sizes>
 *           pace "MIN-MAX" ms between sends, sizes "SMALL,MEDIUM,FRAGMENTED"
 *           percentages (as chaos::Traffic in tests/src/chaos/mod.rs)
 *   stdout  "ready <nodeid> <pid>" once joined
 *   stdin   "exit": stop sending, wait (up to 60 s) for the last own
 *           message to come back, record "end", leave
 *   exit 3  after any other error from corosync (recorded as "error");
 *           CS_ERR_INTERRUPT from a send (libqb gave up waiting for a
 *           stalled daemon) is not recorded as sent, and its sequence
 *           number is not used again
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <corosync/cpg.h>

#define MAGIC 0x43484f53u
#define HEADER 28

static FILE *rec;
static uint32_t my_nodeid, my_pid;
static uint64_t own_seq;
static uint64_t rng_state;
static uint64_t pace_min, pace_max, pct_medium, pct_fragmented;

static uint64_t rng_next(void)
{
	uint64_t z;

	rng_state += 0x9e3779b97f4a7c15ull;
	z = rng_state;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rng_range(uint64_t low, uint64_t high)
{
	return low + rng_next() % (high - low + 1);
}

static uint32_t fnv1a(uint32_t hash, const unsigned char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		hash ^= p[i];
		hash *= 0x01000193u;
	}
	return hash;
}

static uint32_t checksum(const unsigned char *msg, size_t len)
{
	return fnv1a(fnv1a(0x811c9dc5u, msg, 24), msg + HEADER, len - HEADER);
}

static void put32(unsigned char *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void encode(unsigned char *msg, size_t len, uint64_t seq)
{
	size_t i;

	put32(msg, MAGIC);
	put32(msg + 4, my_nodeid);
	put32(msg + 8, my_pid);
	put32(msg + 12, (uint32_t)seq);
	put32(msg + 16, (uint32_t)(seq >> 32));
	put32(msg + 20, (uint32_t)len);
	for (i = HEADER; i < len; i++)
		msg[i] = (unsigned char)(seq * 31 + (i - HEADER) * 7);
	put32(msg + 24, checksum(msg, len));
}

static void deliver(cpg_handle_t handle, const struct cpg_name *group,
	uint32_t nodeid, uint32_t pid, void *data, size_t len)
{
	const unsigned char *msg = data;
	uint64_t seq = 0;
	int intact = 0;

	(void)handle; (void)group;
	if (len >= HEADER) {
		seq = get64(msg + 12);
		intact = get32(msg) == MAGIC && get32(msg + 4) == nodeid && get32(msg + 8) == pid
			&& get32(msg + 20) == len && get32(msg + 24) == checksum(msg, len);
	}
	fprintf(rec, "dlv %u %u %llu %zu %s\n", nodeid, pid, (unsigned long long)seq, len,
		intact ? "ok" : "corrupt");
	if (intact && nodeid == my_nodeid && pid == my_pid && seq > own_seq)
		own_seq = seq;
}

static int cmp_member(const void *a, const void *b)
{
	const struct cpg_address *x = a, *y = b;

	if (x->nodeid != y->nodeid)
		return x->nodeid < y->nodeid ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void confchg(cpg_handle_t handle, const struct cpg_name *group,
	const struct cpg_address *members, size_t n_members,
	const struct cpg_address *left, size_t n_left,
	const struct cpg_address *joined, size_t n_joined)
{
	struct cpg_address sorted[CPG_MEMBERS_MAX];
	size_t i;

	(void)handle; (void)group; (void)left; (void)n_left; (void)joined; (void)n_joined;
	if (n_members > CPG_MEMBERS_MAX)
		n_members = CPG_MEMBERS_MAX;
	memcpy(sorted, members, n_members * sizeof(*members));
	qsort(sorted, n_members, sizeof(*sorted), cmp_member);
	fprintf(rec, "conf ");
	for (i = 0; i < n_members; i++)
		fprintf(rec, "%s%u:%u", i ? "," : "", sorted[i].nodeid, sorted[i].pid);
	fprintf(rec, "\n");
}

static void totem(cpg_handle_t handle, struct cpg_ring_id ring_id,
	uint32_t n_members, const uint32_t *members)
{
	(void)handle; (void)n_members; (void)members;
	fprintf(rec, "ring %llu %u\n", (unsigned long long)ring_id.seq, ring_id.nodeid);
}

static size_t unhex(const char *s, char *out, size_t max)
{
	size_t n = 0;
	unsigned int byte;

	while (n < max && s[0] && s[1] && sscanf(s, "%2x", &byte) == 1) {
		out[n++] = (char)byte;
		s += 2;
	}
	return n;
}

static void fail(const char *what, cs_error_t err)
{
	fprintf(rec, "error %s: %d\n", what, err);
	fflush(rec);
	exit(3);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static size_t message_size(size_t atomic)
{
	uint64_t pick = rng_range(0, 99);

	if (pick < pct_fragmented)
		return (size_t)rng_range(atomic + 1, atomic * 2);
	if (pick < pct_fragmented + pct_medium)
		return (size_t)rng_range(1024, 64 * 1024);
	return (size_t)rng_range(HEADER, 512);
}

int main(int argc, char **argv)
{
	cpg_model_v1_data_t model = {
		.model = CPG_MODEL_V1,
		.cpg_deliver_fn = deliver,
		.cpg_confchg_fn = confchg,
		.cpg_totem_confchg_fn = totem,
		.flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
	};
	struct cpg_name group;
	cpg_handle_t handle;
	cs_error_t err;
	uint32_t atomic32;
	size_t atomic;
	uint64_t seq = 0, last_sent = 0, next_send, deadline = 0;
	unsigned char *msg;
	int fd, ending = 0;
	char line[64];
	unsigned long long low, high, small, medium, fragmented;

	if (argc != 7
	    || sscanf(argv[5], "%llu-%llu", &low, &high) != 2 || low > high
	    || sscanf(argv[6], "%llu,%llu,%llu", &small, &medium, &fragmented) != 3
	    || small + medium + fragmented != 100) {
		fprintf(stderr, "usage: chaos_member <name> <group hex> <record file> <seed>"
			" <pace MIN-MAX> <sizes S,M,F>\n");
		return 2;
	}
	pace_min = low;
	pace_max = high;
	pct_medium = medium;
	pct_fragmented = fragmented;
	rng_state = strtoull(argv[4], NULL, 10);
	rec = fopen(argv[3], "w");
	if (!rec) {
		perror(argv[3]);
		return 2;
	}
	memset(&group, 0, sizeof(group));
	group.length = (uint32_t)unhex(argv[2], group.value, sizeof(group.value));
	my_pid = (uint32_t)getpid();
	err = cpg_model_initialize(&handle, CPG_MODEL_V1, (cpg_model_data_t *)&model, NULL);
	if (err != CS_OK) {
		fprintf(stderr, "cpg_model_initialize: %d\n", err);
		return 3;
	}
	err = cpg_local_get(handle, &my_nodeid);
	if (err != CS_OK) {
		fprintf(stderr, "cpg_local_get: %d\n", err);
		return 3;
	}
	err = cpg_max_atomic_msgsize_get(handle, &atomic32);
	if (err != CS_OK) {
		fprintf(stderr, "cpg_max_atomic_msgsize_get: %d\n", err);
		return 3;
	}
	atomic = atomic32;
	msg = malloc(atomic * 2 + 1);
	if (!msg)
		return 2;
	fprintf(rec, "member %s c %u %u %zu\n", argv[1], my_nodeid, my_pid, atomic);
	err = cpg_join(handle, &group);
	if (err != CS_OK)
		fail("cpg_join", err);
	printf("ready %u %u\n", my_nodeid, my_pid);
	fflush(stdout);
	cpg_fd_get(handle, &fd);
	next_send = now_ms();
	for (;;) {
		struct pollfd pfd[2] = { { fd, POLLIN, 0 }, { 0, POLLIN, 0 } };
		uint64_t now = now_ms();
		int wait = next_send > now ? (int)(next_send - now) : 0;

		if (wait > 50)
			wait = 50;
		if (poll(pfd, ending ? 1 : 2, wait) < 0)
			continue;
		if (pfd[0].revents) {
			err = cpg_dispatch(handle, CS_DISPATCH_ALL);
			if (err != CS_OK)
				fail("cpg_dispatch", err);
		}
		fflush(rec);
		if (!ending && (pfd[1].revents & (POLLIN | POLLHUP))) {
			if (!fgets(line, sizeof(line), stdin) || strncmp(line, "exit", 4) == 0) {
				ending = 1;
				deadline = now_ms() + 60000;
			}
		}
		if (ending) {
			if (own_seq >= last_sent) {
				fprintf(rec, "end\n");
				fflush(rec);
				break;
			}
			if (now_ms() >= deadline) {
				fprintf(rec, "error own messages did not come back within 60 s\n");
				fflush(rec);
				return 4;
			}
			continue;
		}
		if (now_ms() >= next_send) {
			size_t len = message_size(atomic);
			struct iovec iov;

			encode(msg, len, seq + 1);
			iov.iov_base = msg;
			iov.iov_len = len;
			err = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
			if (err == CS_OK) {
				last_sent = ++seq;
				fprintf(rec, "sent %llu\n", (unsigned long long)seq);
			} else if (err == CS_ERR_INTERRUPT) {
				/* libqb gave up waiting for a stalled daemon: the
				 * message may or may not go out; its number is not
				 * used again. */
				seq++;
			} else if (err != CS_ERR_TRY_AGAIN) {
				fail("cpg_mcast_joined", err);
			}
			next_send = now_ms() + rng_range(pace_min, pace_max);
		}
	}
	cpg_leave(handle, &group);
	cpg_finalize(handle);
	return 0;
}
