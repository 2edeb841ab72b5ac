/*
 * The C side of the CPG benchmark: the same loops as the Rust example
 * corosync/examples/cpg_bench.rs, on libcpg directly.
 *
 *   cpg_bench throughput <size> <count>
 *   cpg_bench latency <size> <count>
 *
 * Throughput: multicast <count> messages of <size> bytes to our own group
 * as fast as flow control allows, dispatching as we go, until all of them
 * have been delivered back (in order). Latency: <count> round trips of one
 * message each. Prints one line of key=value results; a throughput line
 * counts the messages that came back, and the program exits with status 1
 * if that is not every message sent.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <corosync/cpg.h>

static size_t size;
static uint64_t delivered;
static uint64_t out_of_order;
static int joined;

/*
 * Counts a message delivered back, and as out of order one that is not the
 * next expected: its size and its stamp (the sequence number in its first
 * bytes, up to 8) are checked, not the rest of its bytes.
 */
static void deliver(cpg_handle_t h, const struct cpg_name *g, uint32_t nodeid,
	uint32_t pid, void *msg, size_t len)
{
	size_t n = size < 8 ? size : 8;

	(void)h; (void)g; (void)nodeid; (void)pid;
	if (len != size || memcmp(msg, &delivered, n) != 0) {
		out_of_order++;
	}
	delivered++;
}

static void confchg(cpg_handle_t h, const struct cpg_name *g,
	const struct cpg_address *m, size_t nm, const struct cpg_address *l, size_t nl,
	const struct cpg_address *j, size_t nj)
{
	(void)h; (void)g; (void)m; (void)nm; (void)l; (void)nl; (void)j;
	if (nj > 0) {
		joined = 1;
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	cpg_handle_t h;
	cpg_model_v1_data_t model;
	struct cpg_name group;
	struct pollfd pfd;
	struct iovec iov;
	unsigned char *buf;
	uint64_t count, sent = 0, i;
	double t0, c0, t1, c1;
	cs_error_t err;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: cpg_bench throughput|latency <size> <count>\n");
		return 2;
	}
	size = strtoull(argv[2], NULL, 10);
	count = strtoull(argv[3], NULL, 10);
	buf = calloc(1, size < 8 ? 8 : size);

	memset(&model, 0, sizeof(model));
	model.model = CPG_MODEL_V1;
	model.cpg_deliver_fn = deliver;
	model.cpg_confchg_fn = confchg;
	if ((err = cpg_model_initialize(&h, CPG_MODEL_V1, (cpg_model_data_t *)&model, NULL)) != CS_OK) {
		fprintf(stderr, "cpg_model_initialize: %d\n", err);
		return 1;
	}
	snprintf(group.value, sizeof(group.value), "bench-%d", (int)getpid());
	group.length = strlen(group.value);
	if (cpg_join(h, &group) != CS_OK || cpg_fd_get(h, &fd) != CS_OK) {
		fprintf(stderr, "join failed\n");
		return 1;
	}
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (!joined) {
		poll(&pfd, 1, 100);
		cpg_dispatch(h, CS_DISPATCH_ALL);
	}
	iov.iov_base = buf;
	iov.iov_len = size;

	if (strcmp(argv[1], "throughput") == 0) {
		t0 = now();
		c0 = cpu();
		while (delivered < count) {
			int blocked = 0;

			while (sent < count) {
				memcpy(buf, &sent, size < 8 ? size : 8);
				err = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1);
				if (err == CS_ERR_TRY_AGAIN) {
					blocked = 1;
					break;
				}
				if (err != CS_OK) {
					fprintf(stderr, "cpg_mcast_joined: %d\n", err);
					return 1;
				}
				sent++;
			}
			/*
			 * Flow control lifts without an event on our descriptor, so
			 * a blocked sender waits 1 ms at most before trying again.
			 */
			if (blocked) {
				poll(&pfd, 1, 1);
			} else if (sent == count) {
				poll(&pfd, 1, 100);
			}
			if ((err = cpg_dispatch(h, CS_DISPATCH_ALL)) != CS_OK) {
				fprintf(stderr, "cpg_dispatch: %d\n", err);
				return 1;
			}
		}
		t1 = now();
		c1 = cpu();
		printf("impl=c mode=throughput size=%zu count=%llu delivered=%llu secs=%.6f msgs_per_s=%.1f mb_per_s=%.3f cpu_us_per_msg=%.4f out_of_order=%llu\n",
			size, (unsigned long long)sent, (unsigned long long)delivered,
			t1 - t0, delivered / (t1 - t0),
			delivered * (double)size / (t1 - t0) / 1e6,
			(c1 - c0) / (delivered ? delivered : 1) * 1e6,
			(unsigned long long)out_of_order);
		if (delivered != sent) {
			fprintf(stderr, "cpg_bench: sent %llu messages, %llu came back\n",
				(unsigned long long)sent, (unsigned long long)delivered);
			return 1;
		}
	} else {
		double *rtt = calloc(count, sizeof(double));

		for (i = 0; i < count; i++) {
			double start = now();

			memcpy(buf, &delivered, size < 8 ? size : 8);
			while ((err = cpg_mcast_joined(h, CPG_TYPE_AGREED, &iov, 1)) == CS_ERR_TRY_AGAIN) {
				cpg_dispatch(h, CS_DISPATCH_ALL);
			}
			if (err != CS_OK) {
				fprintf(stderr, "cpg_mcast_joined: %d\n", err);
				return 1;
			}
			while (delivered <= i) {
				if ((err = cpg_dispatch(h, CS_DISPATCH_ONE)) != CS_OK) {
					fprintf(stderr, "cpg_dispatch: %d\n", err);
					return 1;
				}
			}
			rtt[i] = (now() - start) * 1e6;
		}
		qsort(rtt, count, sizeof(double), cmp);
		double sum = 0;
		for (i = 0; i < count; i++) {
			sum += rtt[i];
		}
		printf("impl=c mode=latency size=%zu count=%llu mean_us=%.2f p50_us=%.2f p99_us=%.2f out_of_order=%llu\n",
			size, (unsigned long long)count, sum / count, rtt[count / 2],
			rtt[(size_t)(count * 0.99)], (unsigned long long)out_of_order);
	}
	cpg_finalize(h);
	return 0;
}
