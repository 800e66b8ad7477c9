/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/util/log.c: level names, the component flag registry
 * and the shape of a stderr line (captured by pointing fd 2 at a file).
 * The registry is process-global, so the tests run in order and build on it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "spur/log.h"
#include "spur/util.h"

static void
test_levels(void **state)
{
	assert_int_equal(spur_log_get_level(), SPUR_LOG_NOTICE);

	assert_int_equal(spur_log_level_parse("ERROR"), SPUR_LOG_ERROR);
	assert_int_equal(spur_log_level_parse("warning"), SPUR_LOG_WARN);
	assert_int_equal(spur_log_level_parse("Warn"), SPUR_LOG_WARN);
	assert_int_equal(spur_log_level_parse("notice"), SPUR_LOG_NOTICE);
	assert_int_equal(spur_log_level_parse("INFO"), SPUR_LOG_INFO);
	assert_int_equal(spur_log_level_parse("debug"), SPUR_LOG_DEBUG);
	assert_int_equal(spur_log_level_parse("verbose"), -EINVAL);
	assert_int_equal(spur_log_level_parse(""), -EINVAL);
	assert_int_equal(spur_log_level_parse(NULL), -EINVAL);

	assert_string_equal(spur_log_level_name(SPUR_LOG_ERROR), "ERROR");
	assert_string_equal(spur_log_level_name(SPUR_LOG_WARN), "WARNING");
	assert_string_equal(spur_log_level_name(SPUR_LOG_NOTICE), "NOTICE");
	assert_string_equal(spur_log_level_name(SPUR_LOG_INFO), "INFO");
	assert_string_equal(spur_log_level_name(SPUR_LOG_DEBUG), "DEBUG");
	assert_string_equal(spur_log_level_name(SPUR_LOG_DISABLED), "DISABLED");

	spur_log_set_level(SPUR_LOG_INFO);
	assert_int_equal(spur_log_get_level(), SPUR_LOG_INFO);
	spur_log_set_level(SPUR_LOG_NOTICE);
}

struct seen {
	char names[256];
	size_t off;
};

static void
collect(const char *name, bool enabled, void *ctx)
{
	struct seen *s = ctx;
	int rc = spur_strfmt(s->names + s->off, sizeof(s->names) - s->off, "%s%s=%d",
			     s->off ? "," : "", name, enabled);

	assert_int_equal(rc, 0);
	s->off += strlen(s->names + s->off);
}

static void
test_flags(void **state)
{
	struct seen s = {.off = 0};

	spur_log_register_component("thread");
	spur_log_register_component("rpc");
	spur_log_register_component("bdev");
	spur_log_register_component("rpc"); /* duplicate: no-op */

	assert_false(spur_log_get_flag("rpc"));
	assert_false(spur_log_debug_enabled("rpc"));
	assert_int_equal(spur_log_set_flag("rpc"), 0);
	assert_true(spur_log_get_flag("rpc"));
	assert_true(spur_log_debug_enabled("rpc"));
	assert_false(spur_log_debug_enabled("thread"));

	assert_int_equal(spur_log_set_flag("nope"), -ENOENT);
	assert_int_equal(spur_log_clear_flag("nope"), -ENOENT);
	assert_false(spur_log_get_flag("nope"));
	assert_false(spur_log_debug_enabled("nope"));

	spur_log_for_each_flag(collect, &s);
	assert_string_equal(s.names, "thread=0,rpc=1,bdev=0");

	assert_int_equal(spur_log_set_flag("all"), 0);
	assert_true(spur_log_get_flag("thread"));
	assert_true(spur_log_get_flag("bdev"));
	assert_int_equal(spur_log_clear_flag("thread"), 0);
	assert_false(spur_log_get_flag("thread"));
	assert_int_equal(spur_log_clear_flag("all"), 0);
	assert_false(spur_log_get_flag("rpc"));
	assert_false(spur_log_debug_enabled("rpc"));
	/* Flags are independent of the level. */
	assert_int_equal(spur_log_set_flag("bdev"), 0);
	assert_int_equal(spur_log_get_level(), SPUR_LOG_NOTICE);
	assert_true(spur_log_debug_enabled("bdev"));
	assert_int_equal(spur_log_clear_flag("bdev"), 0);
}

/* Runs fn with fd 2 redirected to a temporary file; returns its contents. */
static char *
capture(void (*fn)(void))
{
	char path[] = "/tmp/spur_log_ut.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	static char out[8192];
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, out, sizeof(out) - 1, 0);
	close(fd);
	assert_true(n >= 0);
	out[n] = '\0';
	return out;
}

static void
log_some(void)
{
	SPUR_ERRLOG("bad thing %d\n", 42);
	SPUR_INFOLOG("hidden at NOTICE\n");
	SPUR_NOTICELOG("no newline");
	SPUR_DEBUGLOG("thread", "hidden: flag clear\n");
	spur_log_set_flag("thread");
	SPUR_DEBUGLOG("thread", "shown: flag set\n");
	spur_log_clear_flag("thread");
}

static void
test_format(void **state)
{
	const char *out = capture(log_some);
	const char *line2, *line3;

	/* [YYYY-MM-DD HH:MM:SS.uuuuuu] LEVEL file.c:N: message */
	assert_int_equal(out[0], '[');
	assert_int_equal(out[5], '-');
	assert_int_equal(out[11], ' ');
	assert_int_equal(out[20], '.');
	assert_int_equal(out[27], ']');
	assert_non_null(strstr(out, "] ERROR log_ut.c:"));
	assert_non_null(strstr(out, ": bad thing 42\n"));
	assert_null(strstr(out, "hidden"));
	line2 = strchr(out, '\n') + 1;
	assert_non_null(strstr(line2, "] NOTICE log_ut.c:"));
	assert_non_null(strstr(line2, ": no newline\n"));
	line3 = strchr(line2, '\n') + 1;
	assert_non_null(strstr(line3, "] DEBUG thread log_ut.c:"));
	assert_non_null(strstr(line3, ": shown: flag set\n"));
	assert_int_equal(strchr(line3, '\n')[1], '\0');
}

static void
log_long(void)
{
	char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	SPUR_ERRLOG("%s\n", big);
	SPUR_ERRLOG("after\n");
}

static void
test_truncation(void **state)
{
	const char *out = capture(log_long);
	const char *nl = strchr(out, '\n');

	assert_non_null(nl);
	assert_true(nl - out < 4096);
	assert_memory_equal(nl - 3, "...", 3);
	assert_non_null(strstr(nl + 1, ": after\n"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_truncation),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
