/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Incremental JSON value framer (see framing.h for the contract).
 *
 * Owns nothing but the small struct rpc_framer the caller embeds. The scan is
 * a byte-at-a-time state machine:
 *
 *   between values --'{' or '['--> in value (depth 1) --matching close--> done
 *        |  whitespace: skipped          |  '"' <--> in string ('\\' escapes
 *        |  anything else: ERROR         |         the next byte)
 *
 * Outside strings only the four brackets and '"' matter; numbers, literals
 * and separators are left for the parser, which sees the exact slice the
 * framer delimits. Inside strings only '"' and '\\' matter. Depth is a size_t
 * and can therefore not overflow for any buffer that fits in memory.
 *
 * Threading: none; a framer belongs to one connection.
 */
#include <string.h>

#include "framing.h"

void
rpc_framer_init(struct rpc_framer *f)
{
	memset(f, 0, sizeof(*f));
}

static inline bool
is_json_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Skip the body of a string from i; returns the offset of the closing quote,
 * or len when the string continues past the buffer (state kept in f).
 */
static size_t
scan_string(struct rpc_framer *f, const unsigned char *p, size_t i, size_t len)
{
	for (; i < len; i++) {
		if (f->escape) {
			f->escape = false;
			continue;
		}
		if (p[i] == '\\')
			f->escape = true;
		else if (p[i] == '"')
			return i;
	}
	return len;
}

enum rpc_frame_status
rpc_framer_scan(struct rpc_framer *f, const char *buf, size_t len, size_t *start, size_t *end)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t i = f->scanned;

	while (i < len) {
		unsigned char c = p[i];

		if (!f->in_value) {
			if (is_json_space(c)) {
				i++;
				continue;
			}
			if (c != '{' && c != '[') {
				f->scanned = i;
				*start = i;
				return RPC_FRAME_ERROR;
			}
			f->in_value = true;
			f->start = i;
			f->depth = 1;
			i++;
			continue;
		}
		if (f->in_string) {
			i = scan_string(f, p, i, len);
			if (i == len)
				break;
			f->in_string = false;
			i++;
			continue;
		}
		switch (c) {
		case '"':
			f->in_string = true;
			break;
		case '{':
		case '[':
			f->depth++;
			break;
		case '}':
		case ']':
			/* Mismatched brackets are the parser's business. */
			if (--f->depth == 0) {
				f->scanned = i + 1;
				*start = f->start;
				*end = i + 1;
				return RPC_FRAME_COMPLETE;
			}
			break;
		default:
			break;
		}
		i++;
	}
	f->scanned = len;
	return RPC_FRAME_NEED_MORE;
}

void
rpc_framer_discard(struct rpc_framer *f, size_t n)
{
	f->scanned -= n;
	if (f->in_value)
		f->start -= n;
}

size_t
rpc_framer_value_bytes(const struct rpc_framer *f)
{
	return f->in_value ? f->scanned - f->start : 0;
}
