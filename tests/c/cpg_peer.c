/*
 * A CPG member written in plain C against libcpg, for the interop tests of
 * corosync-rs. It joins one group and talks line by line:
 *
 *   argv[1]   the group name in hex (any bytes, a trailing NUL included)
 *   stdout    "ready <nodeid> <pid>" once its own join is delivered;
 *             "msg <nodeid> <pid> <group hex> <data hex>" per delivery
 *   stdin     "send <hex>" multicasts the bytes (agreed); "quit" exits
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <corosync/cpg.h>

static unsigned int my_nodeid;
static int ready;

static void print_hex(const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	static char out[2 * (1 << 21)];
	const unsigned char *p = data;
	size_t i;

	for (i = 0; i < len && 2 * i + 1 < sizeof(out); i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	fwrite(out, 1, 2 * i, stdout);
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static size_t unhex(const char *s, unsigned char *out, size_t max)
{
	size_t n = 0;

	while (n < max && nibble(s[0]) >= 0 && nibble(s[1]) >= 0) {
		out[n++] = (unsigned char)(nibble(s[0]) << 4 | nibble(s[1]));
		s += 2;
	}
	return n;
}

static void deliver(cpg_handle_t handle, const struct cpg_name *group,
	uint32_t nodeid, uint32_t pid, void *msg, size_t msg_len)
{
	(void)handle;
	printf("msg %u %u ", nodeid, pid);
	print_hex(group->value, group->length);
	printf(" ");
	print_hex(msg, msg_len);
	printf("\n");
}

static void confchg(cpg_handle_t handle, const struct cpg_name *group,
	const struct cpg_address *members, size_t n_members,
	const struct cpg_address *left, size_t n_left,
	const struct cpg_address *joined, size_t n_joined)
{
	size_t i;

	(void)handle; (void)group; (void)left; (void)n_left; (void)members; (void)n_members;
	for (i = 0; i < n_joined; i++) {
		if (!ready && joined[i].nodeid == my_nodeid && joined[i].pid == (uint32_t)getpid()) {
			ready = 1;
			printf("ready %u %u\n", my_nodeid, (unsigned int)getpid());
		}
	}
}

static cs_error_t send_hex(cpg_handle_t handle, const char *hex, unsigned char *buf, size_t max)
{
	size_t len = unhex(hex, buf, max);
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	cs_error_t err;

	do {
		err = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1);
		if (err == CS_ERR_TRY_AGAIN) {
			cpg_dispatch(handle, CS_DISPATCH_ALL);
			usleep(1000);
		}
	} while (err == CS_ERR_TRY_AGAIN);
	if (err != CS_OK) {
		fprintf(stderr, "cpg_mcast_joined: %d\n", err);
	}
	return err;
}

int main(int argc, char **argv)
{
	cpg_handle_t handle;
	cpg_callbacks_t callbacks = { deliver, confchg };
	struct cpg_name group;
	static unsigned char buf[1 << 20];
	static char line[(1 << 21) + 64];
	struct pollfd fds[2];
	int fd;
	size_t used = 0;
	cs_error_t err;

	if (argc != 2) {
		fprintf(stderr, "usage: cpg_peer <group hex>\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&group, 0, sizeof(group));
	group.length = unhex(argv[1], (unsigned char *)group.value, CPG_MAX_NAME_LENGTH);

	if ((err = cpg_initialize(&handle, &callbacks)) != CS_OK) {
		fprintf(stderr, "cpg_initialize: %d\n", err);
		return 1;
	}
	if ((err = cpg_local_get(handle, &my_nodeid)) != CS_OK ||
	    (err = cpg_join(handle, &group)) != CS_OK ||
	    (err = cpg_fd_get(handle, &fd)) != CS_OK) {
		fprintf(stderr, "cpg setup: %d\n", err);
		return 1;
	}
	fds[0].fd = 0;
	fds[0].events = POLLIN;
	fds[1].fd = fd;
	fds[1].events = POLLIN;
	for (;;) {
		if (poll(fds, 2, -1) < 0 && errno != EINTR) {
			perror("poll");
			return 1;
		}
		if (fds[1].revents) {
			if ((err = cpg_dispatch(handle, CS_DISPATCH_ALL)) != CS_OK) {
				fprintf(stderr, "cpg_dispatch: %d\n", err);
				return 1;
			}
		}
		if (fds[0].revents) {
			ssize_t got = read(0, line + used, sizeof(line) - 1 - used);
			char *start = line, *nl;

			if (got <= 0) {
				break;
			}
			used += (size_t)got;
			line[used] = 0;
			/* Act on every complete line read so far. */
			while ((nl = memchr(start, '\n', used - (size_t)(start - line))) != NULL) {
				*nl = 0;
				if (strncmp(start, "quit", 4) == 0) {
					goto out;
				}
				if (strncmp(start, "send ", 5) == 0 && send_hex(handle, start + 5, buf, sizeof(buf)) != CS_OK) {
					return 1;
				}
				start = nl + 1;
			}
			used -= (size_t)(start - line);
			memmove(line, start, used);
		}
	}
out:
	cpg_finalize(handle);
	return 0;
}
