/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spurctl's connection to the daemon: one Unix stream socket, one request
 * at a time. A reply is the first complete JSON value read back, found by
 * tracking nesting outside strings (not by newlines), so parsing happens
 * once per reply and bytes after it stay buffered for the next call. Every
 * wait is bounded by the per-call timeout.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "spurctl.h"

#define MAX_REPLY_BYTES (1024UL * 1024 * 1024)

int
spurctl_connect(struct spurctl_client *c, char *err, size_t errlen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	if (strlen(c->path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "cannot connect to %s: path too long", c->path);
		return -1;
	}
	memcpy(addr.sun_path, c->path, strlen(c->path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", c->path, strerror(errno));
		if (c->fd >= 0) {
			close(c->fd);
			c->fd = -1;
		}
		return -1;
	}
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on the socket until deadline; 0, or -1 with err set. */
static int
wait_fd(struct spurctl_client *c, short events, int64_t deadline, char *err, size_t errlen)
{
	for (;;) {
		struct pollfd pfd = {.fd = c->fd, .events = events};
		int64_t left = deadline - now_ms();
		int rc;

		if (left <= 0) {
			snprintf(err, errlen, "timed out after %g s", c->timeout_ms / 1000.0);
			return -1;
		}
		rc = poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
		if (rc > 0) {
			return 0;
		}
		if (rc < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

static int
send_all(struct spurctl_client *c, const char *data, size_t len, int64_t deadline, char *err,
	 size_t errlen)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			data += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(c, POLLOUT, deadline, err, errlen) != 0) {
				return -1;
			}
		} else {
			snprintf(err, errlen, "send to %s: %s", c->path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * Advances the scanner over new bytes. Returns the length of the first
 * complete top-level value once it has been seen, 0 while incomplete, or
 * SIZE_MAX when the reply cannot be an object or array.
 */
static size_t
scan_reply(struct spurctl_client *c)
{
	for (; c->scan < c->len; c->scan++) {
		char ch = c->buf[c->scan];

		if (c->in_str) {
			if (c->esc) {
				c->esc = false;
			} else if (ch == '\\') {
				c->esc = true;
			} else if (ch == '"') {
				c->in_str = false;
			}
		} else if (ch == '"') {
			c->in_str = true;
		} else if (ch == '{' || ch == '[') {
			c->depth++;
		} else if (ch == '}' || ch == ']') {
			if (--c->depth == 0) {
				return ++c->scan;
			}
		} else if (c->depth == 0 && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') {
			return SIZE_MAX;
		}
		if (c->depth < 0) {
			return SIZE_MAX;
		}
	}
	return 0;
}

json_t *
spurctl_call(struct spurctl_client *c, const char *method, json_t *params, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + c->timeout_ms;
	json_t *req = json_pack("{s:s, s:i, s:s}", "jsonrpc", "2.0", "id", 1, "method", method);
	json_t *reply;
	json_error_t jerr;
	char *text;
	size_t end;
	int rc;

	if (req == NULL || (params != NULL && json_object_set(req, "params", params) != 0)) {
		json_decref(req);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rc = send_all(c, text, strlen(text), deadline, err, errlen);
	rc = rc ? rc : send_all(c, "\n", 1, deadline, err, errlen);
	free(text);
	if (rc != 0) {
		return NULL;
	}

	while ((end = scan_reply(c)) == 0) {
		ssize_t n;

		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *b = cap <= MAX_REPLY_BYTES ? realloc(c->buf, cap) : NULL;

			if (b == NULL) {
				snprintf(err, errlen, "reply too large");
				return NULL;
			}
			c->buf = b;
			c->cap = cap;
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
		if (n > 0) {
			c->len += (size_t)n;
		} else if (n == 0) {
			snprintf(err, errlen, "connection closed by the daemon%s",
				 c->len ? " in the middle of a reply" : "");
			return NULL;
		} else if (errno == EAGAIN || errno == EINTR) {
			if (wait_fd(c, POLLIN, deadline, err, errlen) != 0) {
				return NULL;
			}
		} else {
			snprintf(err, errlen, "receive from %s: %s", c->path, strerror(errno));
			return NULL;
		}
	}
	if (end == SIZE_MAX) {
		snprintf(err, errlen, "malformed reply from the daemon (not a JSON object)");
		return NULL;
	}
	reply = json_loadb(c->buf, end, 0, &jerr);
	if (!json_is_object(reply)) {
		json_decref(reply);
		snprintf(err, errlen, "malformed reply from the daemon: %s",
			 reply ? "not a JSON object" : jerr.text);
		return NULL;
	}
	memmove(c->buf, c->buf + end, c->len - end);
	c->len -= end;
	c->scan = 0;
	return reply;
}

int
spurctl_reply_unpack(json_t *reply, json_t **result, json_int_t *code, const char **message)
{
	json_t *e = json_object_get(reply, "error");

	*result = json_object_get(reply, "result");
	if (e == NULL && *result != NULL) {
		return 0;
	}
	*code = json_integer_value(json_object_get(e, "code"));
	*message = json_string_value(json_object_get(e, "message"));
	if (*message == NULL) {
		*message = e ? "error without a message" : "reply without result or error";
	}
	return 1;
}


void
spurctl_close(struct spurctl_client *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = c->scan = 0;
}
