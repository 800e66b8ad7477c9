/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/rpc/framing.c, the incremental top-level JSON value
 * framer: every split point of a tricky sample, several values in one
 * buffer, garbage, deep nesting, and linear time on a large value fed in
 * small chunks. Single-threaded; each test owns its framer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "framing.h"

/* Strings holding quotes, backslashes, brackets and braces. */
static const char g_sample[] =
	"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{\"s\":\"a \\\"quoted\\\" } ] { [ \","
	"\"b\":\"\\\\\",\"c\":\"\\\\\\\"}\",\"arr\":[[1,2],[{\"k\":\"]\"}],[]],\"e\":{}},\"id\":1}";

/*
 * Feed buf in two pieces split at 'cut' the way a connection does: the same
 * buffer grows, the framer resumes where it stopped.
 */
static enum rpc_frame_status
feed_split(const char *buf, size_t len, size_t cut, size_t *start, size_t *end)
{
	struct rpc_framer f;
	enum rpc_frame_status st;

	rpc_framer_init(&f);
	st = rpc_framer_scan(&f, buf, cut, start, end);
	if (st != RPC_FRAME_NEED_MORE)
		return st;
	return rpc_framer_scan(&f, buf, len, start, end);
}

static void
test_every_split(void **state)
{
	size_t len = strlen(g_sample), cut, start, end;
	struct rpc_framer f;

	/* Sanity: in one piece it ends exactly at the end. */
	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, g_sample, len, &start, &end), RPC_FRAME_COMPLETE);
	assert_int_equal(start, 0);
	assert_int_equal(end, len);

	for (cut = 0; cut < len; cut++) {
		start = end = SIZE_MAX;
		assert_int_equal(feed_split(g_sample, len, cut, &start, &end), RPC_FRAME_COMPLETE);
		assert_int_equal(start, 0);
		assert_int_equal(end, len);
	}
	/* Nothing completes early when the last byte is missing, at any cut. */
	for (cut = 0; cut < len - 1; cut++)
		assert_int_equal(feed_split(g_sample, len - 1, cut, &start, &end),
				 RPC_FRAME_NEED_MORE);
}

static void
test_byte_by_byte(void **state)
{
	size_t len = strlen(g_sample), i, start, end;
	struct rpc_framer f;

	rpc_framer_init(&f);
	for (i = 1; i < len; i++)
		assert_int_equal(rpc_framer_scan(&f, g_sample, i, &start, &end),
				 RPC_FRAME_NEED_MORE);
	assert_int_equal(rpc_framer_scan(&f, g_sample, len, &start, &end), RPC_FRAME_COMPLETE);
	assert_int_equal(end, len);
}

static void
test_several_values(void **state)
{
	const char *buf = "  {\"a\":\"}\"}\n\t[1,[2]]\r\n {} [\"x\"";
	size_t len = strlen(buf), off = 0, start, end;
	struct rpc_framer f;

	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, buf + off, len - off, &start, &end),
			 RPC_FRAME_COMPLETE);
	assert_int_equal(start, 2);
	assert_memory_equal(buf + off + start, "{\"a\":\"}\"}", end - start);
	off += end;

	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, buf + off, len - off, &start, &end),
			 RPC_FRAME_COMPLETE);
	assert_memory_equal(buf + off + start, "[1,[2]]", end - start);
	off += end;

	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, buf + off, len - off, &start, &end),
			 RPC_FRAME_COMPLETE);
	assert_memory_equal(buf + off + start, "{}", end - start);
	off += end;

	/* The last one is incomplete. */
	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, buf + off, len - off, &start, &end),
			 RPC_FRAME_NEED_MORE);
	assert_true(f.in_value);
	assert_int_equal(rpc_framer_value_bytes(&f), 4);
}

static void
test_whitespace_only(void **state)
{
	struct rpc_framer f;
	size_t start, end;

	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, " \n\t\r ", 5, &start, &end), RPC_FRAME_NEED_MORE);
	assert_false(f.in_value);
	assert_int_equal(rpc_framer_value_bytes(&f), 0);
	rpc_framer_discard(&f, 5);
	assert_int_equal(f.scanned, 0);
	assert_int_equal(rpc_framer_scan(&f, "{}", 2, &start, &end), RPC_FRAME_COMPLETE);
	assert_int_equal(end, 2);
}

static void
test_discard_keeps_offsets(void **state)
{
	char buf[] = "   {\"a\": [1, 2";
	char rest[] = "{\"a\": [1, 2]}";
	struct rpc_framer f;
	size_t start, end;

	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, buf, strlen(buf), &start, &end), RPC_FRAME_NEED_MORE);
	assert_int_equal(f.start, 3);
	/* The caller drops the 3 leading spaces; the framer follows. */
	rpc_framer_discard(&f, 3);
	assert_int_equal(f.start, 0);
	assert_int_equal(rpc_framer_scan(&f, rest, strlen(rest), &start, &end),
			 RPC_FRAME_COMPLETE);
	assert_int_equal(start, 0);
	assert_int_equal(end, strlen(rest));
}

static void
test_garbage(void **state)
{
	struct rpc_framer f;
	size_t start = 99, end;

	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, "GET / HTTP/1.1\r\n", 16, &start, &end),
			 RPC_FRAME_ERROR);
	assert_int_equal(start, 0);

	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, "  \"str\"", 7, &start, &end), RPC_FRAME_ERROR);
	assert_int_equal(start, 2);

	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, "42", 2, &start, &end), RPC_FRAME_ERROR);

	/* Garbage after a complete value is found when the next value starts. */
	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, "{}x", 3, &start, &end), RPC_FRAME_COMPLETE);
	assert_int_equal(end, 2);
	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, "x", 1, &start, &end), RPC_FRAME_ERROR);

	/* A NUL byte is garbage too. */
	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, "\0{}", 3, &start, &end), RPC_FRAME_ERROR);
}

static void
test_nested_arrays(void **state)
{
	size_t depth = 100000, len = 2 * depth, i, start, end;
	char *buf = malloc(len);
	struct rpc_framer f;

	assert_non_null(buf);
	memset(buf, '[', depth);
	memset(buf + depth, ']', depth);
	rpc_framer_init(&f);
	assert_int_equal(rpc_framer_scan(&f, buf, len - 1, &start, &end), RPC_FRAME_NEED_MORE);
	assert_int_equal(f.depth, 1);
	assert_int_equal(rpc_framer_scan(&f, buf, len, &start, &end), RPC_FRAME_COMPLETE);
	assert_int_equal(end, len);

	/* Brackets inside strings do not count. */
	for (i = 0; i < 3; i++) {
		static const char *const v[] = {"[\"[[[\"]", "[\"\\\"[\"]", "{\"}\":\"{\"}"};

		rpc_framer_init(&f);
		assert_int_equal(rpc_framer_scan(&f, v[i], strlen(v[i]), &start, &end),
				 RPC_FRAME_COMPLETE);
		assert_int_equal(end, strlen(v[i]));
	}
	free(buf);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 20 MiB of strings full of escapes and brackets, fed 4 KiB at a time. */
static void
test_linear_time(void **state)
{
	const size_t total = 20u << 20, chunk = 4096;
	static const char piece[] = "\"a\\\"b{[\\\\\",";
	size_t len = 0, fed, start, end;
	enum rpc_frame_status st = RPC_FRAME_NEED_MORE;
	char *buf = malloc(total + 64);
	struct rpc_framer f;
	double t0, elapsed;

	assert_non_null(buf);
	buf[len++] = '[';
	while (len + sizeof(piece) + 8 < total) {
		memcpy(buf + len, piece, sizeof(piece) - 1);
		len += sizeof(piece) - 1;
	}
	memcpy(buf + len, "0]", 2);
	len += 2;

	rpc_framer_init(&f);
	t0 = now_s();
	for (fed = 0; fed < len;) {
		fed = fed + chunk < len ? fed + chunk : len;
		st = rpc_framer_scan(&f, buf, fed, &start, &end);
		if (st != RPC_FRAME_NEED_MORE)
			break;
	}
	elapsed = now_s() - t0;
	assert_int_equal(st, RPC_FRAME_COMPLETE);
	assert_int_equal(end, len);
	/* Each byte is examined once (a rescan would be ~2500x more work). */
	assert_int_equal(f.scanned, len);
	assert_true(elapsed < 5.0);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_split),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_several_values),
		cmocka_unit_test(test_whitespace_only),
		cmocka_unit_test(test_discard_keeps_offsets),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_nested_arrays),
		cmocka_unit_test(test_linear_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
