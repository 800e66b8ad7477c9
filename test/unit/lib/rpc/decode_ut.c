/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests for lib/rpc/decode.c: every parameter type, every error message
 * shape, bounds, defaults, unknown and missing parameters, null params and
 * raw_params methods. Pure functions; no threads.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "spur/rpc.h"
#include "spur/util.h"

struct all_params {
	bool b;
	int32_t i32;
	uint32_t u32;
	int64_t i64;
	uint64_t u64;
	const char *s;
	json_t *obj;
	json_t *arr;
	json_t *any;
	double d;
};

#define P(n, t, req, f) {n, t, req, false, 0, 0, offsetof(struct all_params, f), "help " n}

static const struct spur_rpc_param g_all[] = {
	P("b", SPUR_RPC_BOOL, false, b),
	P("i32", SPUR_RPC_INT32, false, i32),
	P("u32", SPUR_RPC_UINT32, false, u32),
	P("i64", SPUR_RPC_INT64, false, i64),
	P("u64", SPUR_RPC_UINT64, false, u64),
	P("s", SPUR_RPC_STRING, false, s),
	P("obj", SPUR_RPC_OBJECT, false, obj),
	P("arr", SPUR_RPC_ARRAY, false, arr),
	P("any", SPUR_RPC_ANY, false, any),
	P("d", SPUR_RPC_DOUBLE, false, d),
};

static void
all_defaults(void *p)
{
	struct all_params *a = p;

	a->u32 = 7;
	a->s = "default";
}

static void
nop_handler(struct spur_rpc_request *req, void *params)
{
}

static const struct spur_rpc_method g_all_method = {
	.name = "all",
	.params = g_all,
	.num_params = SPUR_COUNTOF(g_all),
	.params_size = sizeof(struct all_params),
	.set_defaults = all_defaults,
	.handler = nop_handler,
	.states = SPUR_RPC_RUNTIME,
};

/* The params of the last decode(): what out borrows from stays alive. */
static json_t *g_params;

/* Decode text into *out; returns the decoder's rc and leaves err filled. */
static int
decode(const struct spur_rpc_method *m, const char *text, void *out, char *err, size_t len)
{
	json_error_t jerr;

	json_decref(g_params);
	g_params = text ? json_loads(text, JSON_DECODE_ANY, &jerr) : NULL;
	if (text != NULL)
		assert_non_null(g_params);
	return spur_rpc_decode_params(m, g_params, out, err, len);
}

static void
expect_error(const struct spur_rpc_method *m, const char *text, const char *message)
{
	struct all_params out;
	char err[256];

	assert_int_equal(decode(m, text, &out, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, message);
}

static void
test_every_type(void **state)
{
	const char *text = "{\"b\":true,\"i32\":-2147483648,\"u32\":4294967295,"
			   "\"i64\":-9223372036854775807,\"u64\":9223372036854775807,"
			   "\"s\":\"hello\",\"obj\":{\"k\":1},\"arr\":[1,2],\"any\":null,"
			   "\"d\":2.5}";
	json_t *params = json_loads(text, 0, NULL);
	struct all_params out;
	char err[128];

	assert_non_null(params);
	assert_int_equal(spur_rpc_decode_params(&g_all_method, params, &out, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_true(out.b);
	assert_int_equal(out.i32, INT32_MIN);
	assert_int_equal(out.u32, UINT32_MAX);
	assert_true(out.i64 == -INT64_MAX);
	assert_true(out.u64 == (uint64_t)INT64_MAX);
	assert_string_equal(out.s, "hello");
	/* Borrowed from params, not copied. */
	assert_ptr_equal(out.s, json_string_value(json_object_get(params, "s")));
	assert_ptr_equal(out.obj, json_object_get(params, "obj"));
	assert_ptr_equal(out.arr, json_object_get(params, "arr"));
	assert_ptr_equal(out.any, json_object_get(params, "any"));
	assert_true(json_is_null(out.any));
	assert_true(out.d == 2.5);
	json_decref(params);

	/* DOUBLE accepts integers too; ANY accepts anything. */
	assert_int_equal(decode(&g_all_method, "{\"d\":3,\"any\":[1]}", &out, err, sizeof(err)),
			 0);
	assert_true(out.d == 3.0);
	assert_true(json_is_array(out.any));
}

static void
test_defaults_and_null_params(void **state)
{
	struct all_params out;
	char err[128];

	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(decode(&g_all_method, NULL, &out, err, sizeof(err)), 0);
	assert_int_equal(out.u32, 7);
	assert_string_equal(out.s, "default");
	assert_false(out.b);
	assert_int_equal(out.i32, 0);
	assert_null(out.obj);

	memset(&out, 0xa5, sizeof(out));
	assert_int_equal(decode(&g_all_method, "null", &out, err, sizeof(err)), 0);
	assert_int_equal(out.u32, 7);
	assert_null(out.any);

	/* Given values override defaults. */
	assert_int_equal(decode(&g_all_method, "{\"u32\":9}", &out, err, sizeof(err)), 0);
	assert_int_equal(out.u32, 9);
	assert_string_equal(out.s, "default");

	/* out == NULL validates only. */
	assert_int_equal(decode(&g_all_method, "{\"u32\":9}", NULL, err, sizeof(err)), 0);
	expect_error(&g_all_method, "{\"u32\":-1}",
		     "parameter 'u32' must be an unsigned 32-bit integer");
}

static void
test_not_an_object(void **state)
{
	expect_error(&g_all_method, "[1,2]", "params must be an object");
	expect_error(&g_all_method, "\"x\"", "params must be an object");
	expect_error(&g_all_method, "3", "params must be an object");
}

static void
test_unknown_parameter(void **state)
{
	expect_error(&g_all_method, "{\"b\":true,\"bogus\":1}", "unknown parameter 'bogus'");
	/* Unknown members win over other problems, in the order sent. */
	expect_error(&g_all_method, "{\"zz\":1,\"b\":3,\"yy\":2}", "unknown parameter 'zz'");
}

static void
test_wrong_types(void **state)
{
	expect_error(&g_all_method, "{\"b\":1}", "parameter 'b' must be a boolean");
	expect_error(&g_all_method, "{\"b\":\"true\"}", "parameter 'b' must be a boolean");
	expect_error(&g_all_method, "{\"i32\":1.5}", "parameter 'i32' must be a 32-bit integer");
	expect_error(&g_all_method, "{\"i32\":2147483648}",
		     "parameter 'i32' must be a 32-bit integer");
	expect_error(&g_all_method, "{\"i32\":-2147483649}",
		     "parameter 'i32' must be a 32-bit integer");
	expect_error(&g_all_method, "{\"u32\":-1}",
		     "parameter 'u32' must be an unsigned 32-bit integer");
	expect_error(&g_all_method, "{\"u32\":4294967296}",
		     "parameter 'u32' must be an unsigned 32-bit integer");
	expect_error(&g_all_method, "{\"u32\":\"5\"}",
		     "parameter 'u32' must be an unsigned 32-bit integer");
	expect_error(&g_all_method, "{\"u32\":1.0}",
		     "parameter 'u32' must be an unsigned 32-bit integer");
	expect_error(&g_all_method, "{\"i64\":true}", "parameter 'i64' must be a 64-bit integer");
	expect_error(&g_all_method, "{\"u64\":-5}",
		     "parameter 'u64' must be an unsigned 64-bit integer");
	expect_error(&g_all_method, "{\"s\":5}", "parameter 's' must be a string");
	expect_error(&g_all_method, "{\"s\":null}", "parameter 's' must be a string");
	expect_error(&g_all_method, "{\"obj\":[]}", "parameter 'obj' must be an object");
	expect_error(&g_all_method, "{\"arr\":{}}", "parameter 'arr' must be an array");
	expect_error(&g_all_method, "{\"d\":\"1\"}", "parameter 'd' must be a number");
}

struct req_params {
	const char *name;
	uint32_t size;
};

static const struct spur_rpc_param g_req[] = {
	{"name", SPUR_RPC_STRING, true, true, 1, 8, offsetof(struct req_params, name), NULL},
	{"size", SPUR_RPC_UINT32, true, true, 512, 4096, offsetof(struct req_params, size), NULL},
};

static const struct spur_rpc_method g_req_method = {
	.name = "req",
	.params = g_req,
	.num_params = SPUR_COUNTOF(g_req),
	.params_size = sizeof(struct req_params),
	.handler = nop_handler,
	.states = SPUR_RPC_RUNTIME,
};

static void
test_required_and_bounds(void **state)
{
	struct req_params out;
	char err[128];

	expect_error(&g_req_method, NULL, "missing required parameter 'name'");
	expect_error(&g_req_method, "null", "missing required parameter 'name'");
	expect_error(&g_req_method, "{}", "missing required parameter 'name'");
	expect_error(&g_req_method, "{\"name\":\"a\"}", "missing required parameter 'size'");
	expect_error(&g_req_method, "{\"name\":\"\",\"size\":512}",
		     "parameter 'name' must be 1 to 8 characters long");
	expect_error(&g_req_method, "{\"name\":\"123456789\",\"size\":512}",
		     "parameter 'name' must be 1 to 8 characters long");
	expect_error(&g_req_method, "{\"name\":\"a\",\"size\":511}",
		     "parameter 'size' must be between 512 and 4096");
	expect_error(&g_req_method, "{\"name\":\"a\",\"size\":4097}",
		     "parameter 'size' must be between 512 and 4096");
	/* Type is checked before bounds. */
	expect_error(&g_req_method, "{\"name\":\"a\",\"size\":-1}",
		     "parameter 'size' must be an unsigned 32-bit integer");

	assert_int_equal(decode(&g_req_method, "{\"name\":\"12345678\",\"size\":4096}", &out, err,
				sizeof(err)),
			 0);
	assert_string_equal(out.name, "12345678");
	assert_int_equal(out.size, 4096);
	assert_int_equal(decode(&g_req_method, "{\"size\":512,\"name\":\"x\"}", &out, err,
				sizeof(err)),
			 0);
	assert_int_equal(out.size, 512);
}

struct signed_params {
	int64_t v;
	int32_t w;
	double d;
	uint64_t big;
};

static const struct spur_rpc_param g_signed[] = {
	{"v", SPUR_RPC_INT64, false, true, -10, 10, offsetof(struct signed_params, v), NULL},
	{"w", SPUR_RPC_INT32, false, true, -5, UINT64_MAX, offsetof(struct signed_params, w), NULL},
	{"d", SPUR_RPC_DOUBLE, false, true, 0, 1, offsetof(struct signed_params, d), NULL},
	{"big", SPUR_RPC_UINT64, false, true, 100, UINT64_MAX, offsetof(struct signed_params, big),
	 NULL},
};

static const struct spur_rpc_method g_signed_method = {
	.name = "signed",
	.params = g_signed,
	.num_params = SPUR_COUNTOF(g_signed),
	.params_size = sizeof(struct signed_params),
	.handler = nop_handler,
	.states = SPUR_RPC_RUNTIME,
};

static void
test_signed_bounds(void **state)
{
	struct signed_params out;
	char err[128];

	assert_int_equal(decode(&g_signed_method, "{\"v\":-10,\"w\":-5,\"d\":0.5,\"big\":100}",
				&out, err, sizeof(err)),
			 0);
	assert_true(out.v == -10);
	assert_int_equal(out.w, -5);
	assert_int_equal(decode(&g_signed_method, "{\"v\":10,\"w\":2147483647}", &out, err,
				sizeof(err)),
			 0);
	expect_error(&g_signed_method, "{\"v\":-11}", "parameter 'v' must be between -10 and 10");
	expect_error(&g_signed_method, "{\"v\":11}", "parameter 'v' must be between -10 and 10");
	expect_error(&g_signed_method, "{\"w\":-6}",
		     "parameter 'w' must be between -5 and 18446744073709551615");
	expect_error(&g_signed_method, "{\"d\":1.5}", "parameter 'd' must be between 0 and 1");
	expect_error(&g_signed_method, "{\"d\":-0.1}", "parameter 'd' must be between 0 and 1");
	expect_error(&g_signed_method, "{\"big\":99}",
		     "parameter 'big' must be between 100 and 18446744073709551615");
}

static void
test_error_buffer(void **state)
{
	struct req_params out;
	char err[16];

	/* Always terminated, truncated when short; a NULL buffer is fine. */
	assert_int_equal(decode(&g_req_method, "{}", &out, err, sizeof(err)), -EINVAL);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_int_equal(decode(&g_req_method, "{}", &out, NULL, 0), -EINVAL);
}

static void
raw_handler(struct spur_rpc_request *req, void *params)
{
}

static const struct spur_rpc_method g_raw_method = {
	.name = "raw",
	.handler = raw_handler,
	.states = SPUR_RPC_RUNTIME,
	.raw_params = true,
};

static void
test_raw_params(void **state)
{
	json_t *params = json_loads("[1,2,3]", 0, NULL);
	json_t *slot = (json_t *)&slot;
	char err[64];

	assert_int_equal(spur_rpc_decode_params(&g_raw_method, params, &slot, err, sizeof(err)), 0);
	assert_ptr_equal(slot, params);
	assert_int_equal(
		spur_rpc_decode_params(&g_raw_method, json_null(), &slot, err, sizeof(err)), 0);
	assert_null(slot);
	assert_int_equal(spur_rpc_decode_params(&g_raw_method, NULL, NULL, err, sizeof(err)), 0);
	json_decref(params);
}

static void
test_type_names(void **state)
{
	assert_string_equal(spur_rpc_type_name(SPUR_RPC_BOOL), "bool");
	assert_string_equal(spur_rpc_type_name(SPUR_RPC_INT32), "int32");
	assert_string_equal(spur_rpc_type_name(SPUR_RPC_UINT32), "uint32");
	assert_string_equal(spur_rpc_type_name(SPUR_RPC_INT64), "int64");
	assert_string_equal(spur_rpc_type_name(SPUR_RPC_UINT64), "uint64");
	assert_string_equal(spur_rpc_type_name(SPUR_RPC_STRING), "string");
	assert_string_equal(spur_rpc_type_name(SPUR_RPC_OBJECT), "object");
	assert_string_equal(spur_rpc_type_name(SPUR_RPC_ARRAY), "array");
	assert_string_equal(spur_rpc_type_name(SPUR_RPC_ANY), "any");
	assert_string_equal(spur_rpc_type_name(SPUR_RPC_DOUBLE), "number");
}

static void
test_long_unknown_name(void **state)
{
	char text[600], err[256];
	struct all_params out;
	size_t n;

	/* A hostile name is truncated in the message, not echoed in full. */
	n = (size_t)snprintf(text, sizeof(text), "{\"");
	memset(text + n, 'x', 500);
	n += 500;
	snprintf(text + n, sizeof(text) - n, "\":1}");
	assert_int_equal(decode(&g_all_method, text, &out, err, sizeof(err)), -EINVAL);
	assert_true(strncmp(err, "unknown parameter 'xxxx", 23) == 0);
	assert_true(strlen(err) < 100);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_defaults_and_null_params),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_unknown_parameter),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_required_and_bounds),
		cmocka_unit_test(test_signed_bounds),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_raw_params),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_long_unknown_name),
	};

	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	json_decref(g_params);
	return rc;
}
