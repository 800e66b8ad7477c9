/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Private to lib/rpc: finds where one top-level JSON value ends in a byte
 * stream that arrives in arbitrary pieces.
 *
 * The framer does not validate JSON; it only tracks enough syntax (nesting
 * depth, strings, escapes) to know where a top-level object or array closes,
 * so the exact slice can then be handed to the real parser. Its state
 * survives between calls, so every byte is examined once however the stream
 * is split: scanning a value of N bytes costs O(N) in total.
 *
 * Invariant between calls: the caller presents the same bytes at the same
 * offsets (data is only appended, or the already-scanned prefix is dropped
 * with rpc_framer_discard). One framer per connection; not thread-safe.
 */
#ifndef SPUR_RPC_FRAMING_H
#define SPUR_RPC_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

enum rpc_frame_status {
	RPC_FRAME_NEED_MORE, /* no complete value yet */
	RPC_FRAME_COMPLETE,  /* buf[start, end) is one complete value */
	RPC_FRAME_ERROR,     /* a value cannot start here (garbage) */
};

struct rpc_framer {
	size_t scanned;  /* bytes of the buffer examined so far */
	size_t start;    /* offset of the current value's first byte (in_value) */
	size_t depth;    /* open '{' / '[' not yet closed */
	bool in_value;   /* the first '{' or '[' of a value has been seen */
	bool in_string;  /* inside a string literal */
	bool escape;     /* the previous byte was a backslash inside a string */
};

/* Start over: the next byte presented at offset 0 is a fresh stream. */
void rpc_framer_init(struct rpc_framer *f);

/*
 * Examine buf[f->scanned, len). On RPC_FRAME_COMPLETE, *start and *end
 * delimit the value (end is one past its closing byte); the caller consumes
 * buf[0, *end) and calls rpc_framer_init before presenting the rest at
 * offset 0. On RPC_FRAME_NEED_MORE, when !f->in_value every scanned byte was
 * whitespace and may be dropped (rpc_framer_discard). On RPC_FRAME_ERROR,
 * *start is the offset of the offending byte; the stream cannot be
 * resynchronised.
 */
enum rpc_frame_status rpc_framer_scan(struct rpc_framer *f, const char *buf, size_t len,
				      size_t *start, size_t *end);

/*
 * The caller dropped the first n bytes of its buffer (n <= f->scanned and,
 * while in_value, n <= f->start): shift the framer's offsets accordingly.
 */
void rpc_framer_discard(struct rpc_framer *f, size_t n);

/* Bytes of the current value seen so far (0 when no value started). */
size_t rpc_framer_value_bytes(const struct rpc_framer *f);

#endif
