/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one parameter decoder every RPC method goes through.
 *
 * Owns no state. spur_rpc_decode_params validates a JSON "params" value
 * against a method's declared table and fills the method's params struct:
 * defaults first (set_defaults on a zeroed struct), then each member given.
 * Strings and JSON values are stored borrowed from the params value, so the
 * struct is only valid while that value is alive (the request keeps it).
 *
 * Error messages are part of the interface (clients and tests match them):
 *   params must be an object
 *   unknown parameter 'x'
 *   missing required parameter 'x'
 *   parameter 'x' must be <a string | an unsigned 32-bit integer | ...>
 *   parameter 'x' must be between MIN and MAX
 *   parameter 'x' must be MIN to MAX characters long
 * Unknown members are reported first (in the order the client sent them),
 * then the table is checked in declaration order; the first problem wins.
 *
 * Threading: pure function of its arguments; callable from any thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "spur/rpc.h"

const char *
spur_rpc_type_name(enum spur_rpc_type type)
{
	switch (type) {
	case SPUR_RPC_BOOL:
		return "bool";
	case SPUR_RPC_INT32:
		return "int32";
	case SPUR_RPC_UINT32:
		return "uint32";
	case SPUR_RPC_INT64:
		return "int64";
	case SPUR_RPC_UINT64:
		return "uint64";
	case SPUR_RPC_STRING:
		return "string";
	case SPUR_RPC_OBJECT:
		return "object";
	case SPUR_RPC_ARRAY:
		return "array";
	case SPUR_RPC_ANY:
		return "any";
	case SPUR_RPC_DOUBLE:
		return "number";
	}
	return "unknown";
}

/* The phrase used in "parameter 'x' must be ...". */
static const char *
type_description(enum spur_rpc_type type)
{
	switch (type) {
	case SPUR_RPC_BOOL:
		return "a boolean";
	case SPUR_RPC_INT32:
		return "a 32-bit integer";
	case SPUR_RPC_UINT32:
		return "an unsigned 32-bit integer";
	case SPUR_RPC_INT64:
		return "a 64-bit integer";
	case SPUR_RPC_UINT64:
		return "an unsigned 64-bit integer";
	case SPUR_RPC_STRING:
		return "a string";
	case SPUR_RPC_OBJECT:
		return "an object";
	case SPUR_RPC_ARRAY:
		return "an array";
	case SPUR_RPC_ANY:
		return "a JSON value";
	case SPUR_RPC_DOUBLE:
		return "a number";
	}
	return "a valid value";
}

/* Names are printed bounded: a hostile client controls unknown names. */
#define NAME_FMT "'%.64s'"

static int
fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static const struct spur_rpc_param *
find_param(const struct spur_rpc_method *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->num_params; i++) {
		if (strcmp(m->params[i].name, name) == 0)
			return &m->params[i];
	}
	return NULL;
}

static int
out_of_bounds(const struct spur_rpc_param *p, char *err, size_t err_len)
{
	return fail(err, err_len, "parameter " NAME_FMT " must be between %" PRId64 " and %" PRIu64,
		    p->name, p->min, p->max);
}

/* Integer types: range of the C type first, then the declared bounds. */
static int
decode_integer(const struct spur_rpc_param *p, json_t *v, void *field, char *err, size_t err_len)
{
	json_int_t i;
	bool neg;

	if (!json_is_integer(v))
		goto wrong_type;
	i = json_integer_value(v);
	neg = i < 0;
	switch (p->type) {
	case SPUR_RPC_INT32:
		if (i < INT32_MIN || i > INT32_MAX)
			goto wrong_type;
		break;
	case SPUR_RPC_UINT32:
		if (neg || (uint64_t)i > UINT32_MAX)
			goto wrong_type;
		break;
	case SPUR_RPC_UINT64:
		if (neg)
			goto wrong_type;
		break;
	default:
		break;
	}
	if (p->has_bounds) {
		/* min is signed, max unsigned: compare without converting negatives. */
		if ((int64_t)i < p->min || (!neg && (uint64_t)i > p->max))
			return out_of_bounds(p, err, err_len);
	}
	if (field == NULL)
		return 0;
	switch (p->type) {
	case SPUR_RPC_INT32:
		*(int32_t *)field = (int32_t)i;
		break;
	case SPUR_RPC_UINT32:
		*(uint32_t *)field = (uint32_t)i;
		break;
	case SPUR_RPC_INT64:
		*(int64_t *)field = (int64_t)i;
		break;
	default:
		*(uint64_t *)field = (uint64_t)i;
		break;
	}
	return 0;
wrong_type:
	return fail(err, err_len, "parameter " NAME_FMT " must be %s", p->name,
		    type_description(p->type));
}

static int
decode_one(const struct spur_rpc_param *p, json_t *v, void *out, char *err, size_t err_len)
{
	void *field = out != NULL ? (char *)out + p->offset : NULL;
	size_t len;
	double d;

	switch (p->type) {
	case SPUR_RPC_BOOL:
		if (!json_is_boolean(v))
			break;
		if (field != NULL)
			*(bool *)field = json_is_true(v);
		return 0;
	case SPUR_RPC_INT32:
	case SPUR_RPC_UINT32:
	case SPUR_RPC_INT64:
	case SPUR_RPC_UINT64:
		return decode_integer(p, v, field, err, err_len);
	case SPUR_RPC_STRING:
		if (!json_is_string(v))
			break;
		len = json_string_length(v);
		if (p->has_bounds && ((p->min > 0 && len < (uint64_t)p->min) || len > p->max))
			return fail(err, err_len,
				    "parameter " NAME_FMT " must be %" PRId64 " to %" PRIu64
				    " characters long",
				    p->name, p->min, p->max);
		if (field != NULL)
			*(const char **)field = json_string_value(v);
		return 0;
	case SPUR_RPC_OBJECT:
		if (!json_is_object(v))
			break;
		if (field != NULL)
			*(json_t **)field = v;
		return 0;
	case SPUR_RPC_ARRAY:
		if (!json_is_array(v))
			break;
		if (field != NULL)
			*(json_t **)field = v;
		return 0;
	case SPUR_RPC_ANY:
		if (field != NULL)
			*(json_t **)field = v;
		return 0;
	case SPUR_RPC_DOUBLE:
		if (!json_is_number(v))
			break;
		d = json_number_value(v);
		if (p->has_bounds && (d < (double)p->min || d > (double)p->max))
			return out_of_bounds(p, err, err_len);
		if (field != NULL)
			*(double *)field = d;
		return 0;
	}
	return fail(err, err_len, "parameter " NAME_FMT " must be %s", p->name,
		    type_description(p->type));
}

int
spur_rpc_decode_params(const struct spur_rpc_method *method, json_t *params, void *out,
		       char *err, size_t err_len)
{
	const struct spur_rpc_param *p;
	const char *key;
	json_t *v;
	size_t i;

	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (json_is_null(params))
		params = NULL;
	if (method->raw_params) {
		/* The handler gets the value itself; out is its json_t * slot. */
		if (out != NULL)
			*(json_t **)out = params;
		return 0;
	}
	if (out != NULL && method->params_size > 0) {
		memset(out, 0, method->params_size);
		if (method->set_defaults != NULL)
			method->set_defaults(out);
	}
	if (params != NULL && !json_is_object(params))
		return fail(err, err_len, "params must be an object");

	json_object_foreach(params, key, v) {
		if (find_param(method, key) == NULL)
			return fail(err, err_len, "unknown parameter " NAME_FMT, key);
	}
	for (i = 0; i < method->num_params; i++) {
		int rc;

		p = &method->params[i];
		v = params != NULL ? json_object_get(params, p->name) : NULL;
		if (v == NULL) {
			if (p->required)
				return fail(err, err_len, "missing required parameter " NAME_FMT,
					    p->name);
			continue;
		}
		rc = decode_one(p, v, out, err, err_len);
		if (rc != 0)
			return rc;
	}
	return 0;
}
