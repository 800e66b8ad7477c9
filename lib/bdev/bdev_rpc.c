/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-RPC methods of the bdev layer, with SPDK's names, parameters and
 * result shapes: bdev_get_bdevs, bdev_get_iostat, bdev_set_qos_limit,
 * bdev_wait_for_examine, bdev_set_options.
 *
 * Errors: malformed or out-of-rule parameters reply -32602 (the decoder's,
 * or ours with the same wording); an unknown bdev replies -ENODEV naming it;
 * bdev_set_options that would change pool sizes after the layer started
 * replies SPUR_RPC_ERROR_INVALID_STATE. Every handler replies exactly once,
 * on the app thread (the asynchronous ones from their completion, which the
 * runtime delivers there).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spur/log.h"
#include "spur/rpc.h"

#define BOTH (SPUR_RPC_STARTUP | SPUR_RPC_RUNTIME)
#define QOS_ABSENT UINT64_MAX
#define GET_BDEVS_WAIT_US 10000u

/* ---- bdev_get_bdevs ----------------------------------------------------------- */

static const char *const g_spdk_io_types[] = {
	"read", "write", "unmap", "flush", "reset", "compare", "compare_and_write", "abort",
	"seek_hole", "seek_data", "copy", "nvme_admin", "nvme_io", "nvme_io_md", "write_zeroes",
	"zcopy", "get_zone_info", "zone_management", "zone_append", "nvme_iov_md",
};

json_t *
bdev_info_json(struct spur_bdev *bdev)
{
	struct spur_bdev_internal *in = bdev->internal;
	struct spur_bdev_qos_limits l;
	json_t *o = json_object(), *aliases = json_array(), *types = json_object();
	json_t *limits, *driver = json_object();
	struct bdev_alias *a;
	char uuid[40];
	bool claimed;

	pthread_mutex_lock(&g_bdev_mgr.lock);
	TAILQ_FOREACH(a, &in->aliases, link) {
		json_array_append_new(aliases, json_string(a->name));
	}
	claimed = in->claim_module != NULL;
	pthread_mutex_unlock(&g_bdev_mgr.lock);

	spur_bdev_get_uuid_str(bdev, uuid, sizeof(uuid));
	spur_bdev_get_qos_limits(bdev, &l);
	limits = json_pack("{s:I, s:I, s:I, s:I}", "rw_ios_per_sec", (json_int_t)l.rw_ios_per_sec,
			   "rw_mbytes_per_sec", (json_int_t)l.rw_mbytes_per_sec, "r_mbytes_per_sec",
			   (json_int_t)l.r_mbytes_per_sec, "w_mbytes_per_sec",
			   (json_int_t)l.w_mbytes_per_sec);
	for (size_t i = 0; i < SPUR_COUNTOF(g_spdk_io_types); i++) {
		bool supported = false;

		for (int t = 0; t < SPUR_BDEV_IO_NUM_TYPES; t++) {
			if (strcmp(g_spdk_io_types[i], spur_bdev_io_type_name(t)) == 0) {
				supported = spur_bdev_io_type_supported(bdev, t);
			}
		}
		json_object_set_new(types, g_spdk_io_types[i], json_boolean(supported));
	}
	if (bdev->fn_table->dump_info_json != NULL) {
		bdev->fn_table->dump_info_json(bdev->ctxt, driver);
	}
	json_object_set_new(o, "name", json_string(bdev->name));
	json_object_set_new(o, "aliases", aliases);
	json_object_set_new(o, "product_name", json_string(spur_bdev_get_product_name(bdev)));
	json_object_set_new(o, "block_size", json_integer(bdev->blocklen));
	json_object_set_new(o, "num_blocks",
			    json_integer((json_int_t)spur_bdev_get_num_blocks(bdev)));
	json_object_set_new(o, "uuid", json_string(uuid));
	json_object_set_new(o, "assigned_rate_limits", limits);
	json_object_set_new(o, "claimed", json_boolean(claimed));
	json_object_set_new(o, "zoned", json_false());
	json_object_set_new(o, "supported_io_types", types);
	json_object_set_new(o, "driver_specific", driver);
	/* spur's own. */
	json_object_set_new(o, "write_cache", json_boolean(bdev->write_cache));
	json_object_set_new(o, "required_alignment", json_integer(spur_bdev_get_buf_align(bdev)));
	json_object_set_new(o, "optimal_io_boundary", json_integer(bdev->optimal_io_boundary));
	json_object_set_new(o, "split_on_optimal_io_boundary",
			    json_boolean(bdev->split_on_optimal_io_boundary));
	json_object_set_new(o, "max_transfer_blocks", json_integer(bdev->max_transfer_blocks));
	json_object_set_new(o, "max_unmap_blocks", json_integer(bdev->max_unmap_blocks));
	json_object_set_new(o, "max_write_zeroes_blocks",
			    json_integer(bdev->max_write_zeroes_blocks));
	return o;
}

struct get_bdevs_params {
	const char *name;
	uint32_t timeout;
};

static const struct spur_rpc_param g_get_bdevs_params[] = {
	{"name", SPUR_RPC_STRING, false, .offset = offsetof(struct get_bdevs_params, name),
	 .help = "bdev name or alias (default: every bdev)"},
	{"timeout", SPUR_RPC_UINT32, false, .offset = offsetof(struct get_bdevs_params, timeout),
	 .help = "ms to wait for the named bdev to appear"},
};

struct get_bdevs_wait {
	struct spur_rpc_request *req;
	char *name;
	uint64_t deadline;
	struct spur_poller *poller;
};

static void
reply_one(struct spur_rpc_request *req, struct spur_bdev *bdev)
{
	json_t *arr = json_array();

	json_array_append_new(arr, bdev_info_json(bdev));
	spur_rpc_reply(req, arr);
}

static int
get_bdevs_wait_poll(void *ctx)
{
	struct get_bdevs_wait *w = ctx;
	struct spur_bdev *bdev = spur_bdev_get_by_name(w->name);

	if (bdev == NULL && spur_get_ticks() < w->deadline) {
		return SPUR_POLLER_IDLE;
	}
	if (bdev != NULL) {
		reply_one(w->req, bdev);
	} else {
		spur_rpc_error(w->req, -ENODEV, "bdev %s not found", w->name);
	}
	spur_poller_unregister(&w->poller);
	free(w->name);
	free(w);
	return SPUR_POLLER_BUSY;
}

static void
rpc_bdev_get_bdevs(struct spur_rpc_request *req, void *params)
{
	struct get_bdevs_params *p = params;
	struct get_bdevs_wait *w;
	struct spur_bdev *bdev;
	json_t *arr;

	if (p->name == NULL) {
		arr = json_array();
		for (bdev = spur_bdev_first(); bdev != NULL; bdev = spur_bdev_next(bdev)) {
			json_array_append_new(arr, bdev_info_json(bdev));
		}
		spur_rpc_reply(req, arr);
		return;
	}
	bdev = spur_bdev_get_by_name(p->name);
	if (bdev != NULL) {
		reply_one(req, bdev);
		return;
	}
	if (p->timeout == 0) {
		spur_rpc_error(req, -ENODEV, "bdev %s not found", p->name);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL || (w->name = strdup(p->name)) == NULL) {
		free(w);
		spur_rpc_error(req, SPUR_RPC_ERROR_INTERNAL, "out of memory");
		return;
	}
	w->req = req;
	w->deadline = spur_get_ticks() + spur_us_to_ticks((uint64_t)p->timeout * 1000u);
	w->poller = spur_poller_register(get_bdevs_wait_poll, w, GET_BDEVS_WAIT_US,
					 "bdev_get_bdevs_wait");
	if (w->poller == NULL) {
		free(w->name);
		free(w);
		spur_rpc_error(req, SPUR_RPC_ERROR_INTERNAL, "out of memory");
	}
}

/* ---- bdev_get_iostat ------------------------------------------------------------ */

struct get_iostat_params {
	const char *name;
	bool per_channel;
};

static const struct spur_rpc_param g_get_iostat_params[] = {
	{"name", SPUR_RPC_STRING, false, .offset = offsetof(struct get_iostat_params, name),
	 .help = "bdev name or alias (default: every bdev)"},
	{"per_channel", SPUR_RPC_BOOL, false,
	 .offset = offsetof(struct get_iostat_params, per_channel),
	 .help = "figures of each channel (thread) of the named bdev"},
};

struct iostat_ctx {
	struct spur_rpc_request *req;
	char **names;
	size_t num_names;
	size_t idx;
	json_t *bdevs;
	struct spur_bdev_io_stat stat;
};

static void iostat_next(struct iostat_ctx *c);

static void
iostat_free(struct iostat_ctx *c)
{
	for (size_t i = 0; i < c->num_names; i++) {
		free(c->names[i]);
	}
	free(c->names);
	json_decref(c->bdevs);
	free(c);
}

static json_t *
iostat_header(void)
{
	return json_pack("{s:I, s:I}", "tick_rate", (json_int_t)spur_get_ticks_hz(), "ticks",
			 (json_int_t)spur_get_ticks());
}

static void
iostat_one_done(void *arg, int status)
{
	struct iostat_ctx *c = arg;
	json_t *o;

	if (status == 0) {
		o = json_pack("{s:s}", "name", c->names[c->idx]);
		bdev_stat_to_json(&c->stat, o);
		json_array_append_new(c->bdevs, o);
	}
	c->idx++;
	iostat_next(c);
}

static void
iostat_next(struct iostat_ctx *c)
{
	struct spur_bdev *bdev;
	json_t *result;

	for (; c->idx < c->num_names; c->idx++) {
		bdev = spur_bdev_get_by_name(c->names[c->idx]);
		if (bdev == NULL) {
			continue;
		}
		if (spur_bdev_get_device_stat(bdev, &c->stat, iostat_one_done, c) == 0) {
			return;
		}
	}
	result = iostat_header();
	json_object_set(result, "bdevs", c->bdevs);
	spur_rpc_reply(c->req, result);
	iostat_free(c);
}

/* per_channel: one object per channel, collected on each channel's thread. */
struct iostat_ch_ctx {
	struct spur_rpc_request *req;
	char *name;
	json_t *channels;
};

static void
iostat_channel(struct spur_io_channel_iter *i)
{
	struct iostat_ch_ctx *c = spur_io_channel_iter_get_ctx(i);
	struct bdev_channel *ch = spur_io_channel_get_ctx(spur_io_channel_iter_get_channel(i));
	struct spur_bdev_io_stat s = ch->stat;
	struct spur_thread *t = spur_get_thread();
	json_t *o;

	s.queue_depth = ch->outstanding;
	if (s.min_read_latency_ticks == UINT64_MAX) {
		s.min_read_latency_ticks = 0;
	}
	if (s.min_write_latency_ticks == UINT64_MAX) {
		s.min_write_latency_ticks = 0;
	}
	if (s.min_unmap_latency_ticks == UINT64_MAX) {
		s.min_unmap_latency_ticks = 0;
	}
	o = json_pack("{s:I, s:s}", "thread_id", (json_int_t)spur_thread_get_id(t), "thread_name",
		      spur_thread_get_name(t));
	bdev_stat_to_json(&s, o);
	json_array_append_new(c->channels, o);
	spur_for_each_channel_continue(i, 0);
}

static void
iostat_channels_done(struct spur_io_channel_iter *i, int status)
{
	struct iostat_ch_ctx *c = spur_io_channel_iter_get_ctx(i);
	json_t *result;

	if (status != 0) {
		spur_rpc_error(c->req, -ENODEV, "bdev %s not found", c->name);
	} else {
		result = iostat_header();
		json_object_set_new(result, "name", json_string(c->name));
		json_object_set(result, "channels", c->channels);
		spur_rpc_reply(c->req, result);
	}
	json_decref(c->channels);
	free(c->name);
	free(c);
}

static void
rpc_bdev_get_iostat(struct spur_rpc_request *req, void *params)
{
	struct get_iostat_params *p = params;
	struct iostat_ctx *c;
	struct iostat_ch_ctx *cc;
	struct spur_bdev *bdev = NULL;
	size_t n = 0;

	if (p->name != NULL) {
		bdev = spur_bdev_get_by_name(p->name);
		if (bdev == NULL) {
			spur_rpc_error(req, -ENODEV, "bdev %s not found", p->name);
			return;
		}
	} else if (p->per_channel) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'per_channel' needs parameter 'name'");
		return;
	}
	if (p->per_channel) {
		cc = calloc(1, sizeof(*cc));
		if (cc == NULL || (cc->name = strdup(bdev->name)) == NULL) {
			free(cc);
			spur_rpc_error(req, SPUR_RPC_ERROR_INTERNAL, "out of memory");
			return;
		}
		cc->req = req;
		cc->channels = json_array();
		spur_for_each_channel(bdev_io_dev(bdev), iostat_channel, cc, iostat_channels_done);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INTERNAL, "out of memory");
		return;
	}
	c->req = req;
	c->bdevs = json_array();
	for (struct spur_bdev *b = spur_bdev_first(); b != NULL; b = spur_bdev_next(b)) {
		n++;
	}
	c->names = calloc(SPUR_MAX(n, (size_t)1), sizeof(char *));
	if (c->names == NULL) {
		iostat_free(c);
		spur_rpc_error(req, SPUR_RPC_ERROR_INTERNAL, "out of memory");
		return;
	}
	if (bdev != NULL) {
		c->names[c->num_names++] = strdup(bdev->name);
	} else {
		for (struct spur_bdev *b = spur_bdev_first(); b != NULL; b = spur_bdev_next(b)) {
			c->names[c->num_names++] = strdup(b->name);
		}
	}
	for (size_t i = 0; i < c->num_names; i++) {
		if (c->names[i] == NULL) {
			iostat_free(c);
			spur_rpc_error(req, SPUR_RPC_ERROR_INTERNAL, "out of memory");
			return;
		}
	}
	iostat_next(c);
}

/* ---- bdev_set_qos_limit ------------------------------------------------------------ */

struct qos_params {
	const char *name;
	uint64_t rw_ios_per_sec;
	uint64_t rw_mbytes_per_sec;
	uint64_t r_mbytes_per_sec;
	uint64_t w_mbytes_per_sec;
};

static const struct spur_rpc_param g_qos_params[] = {
	{"name", SPUR_RPC_STRING, true, .offset = offsetof(struct qos_params, name),
	 .help = "bdev name or alias"},
	{"rw_ios_per_sec", SPUR_RPC_UINT64, false,
	 .offset = offsetof(struct qos_params, rw_ios_per_sec),
	 .help = "read+write I/O per second, a multiple of 1000 (0: no limit)"},
	{"rw_mbytes_per_sec", SPUR_RPC_UINT64, false, true, 0, UINT64_C(1) << 40,
	 .offset = offsetof(struct qos_params, rw_mbytes_per_sec),
	 .help = "read+write MiB per second (0: no limit)"},
	{"r_mbytes_per_sec", SPUR_RPC_UINT64, false, true, 0, UINT64_C(1) << 40,
	 .offset = offsetof(struct qos_params, r_mbytes_per_sec),
	 .help = "read MiB per second (0: no limit)"},
	{"w_mbytes_per_sec", SPUR_RPC_UINT64, false, true, 0, UINT64_C(1) << 40,
	 .offset = offsetof(struct qos_params, w_mbytes_per_sec),
	 .help = "write MiB per second (0: no limit)"},
};

static void
qos_params_defaults(void *params)
{
	struct qos_params *p = params;

	p->rw_ios_per_sec = QOS_ABSENT;
	p->rw_mbytes_per_sec = QOS_ABSENT;
	p->r_mbytes_per_sec = QOS_ABSENT;
	p->w_mbytes_per_sec = QOS_ABSENT;
}

static void
qos_set_done(void *arg, int status)
{
	struct spur_rpc_request *req = arg;

	if (status != 0) {
		spur_rpc_error(req, status, "setting the limits failed: %s", strerror(-status));
		return;
	}
	spur_rpc_reply_bool(req, true);
}

static void
rpc_bdev_set_qos_limit(struct spur_rpc_request *req, void *params)
{
	struct qos_params *p = params;
	struct spur_bdev_qos_limits l;
	struct spur_bdev *bdev = spur_bdev_get_by_name(p->name);
	int rc;

	if (bdev == NULL) {
		spur_rpc_error(req, -ENODEV, "bdev %s not found", p->name);
		return;
	}
	if (p->rw_ios_per_sec == QOS_ABSENT && p->rw_mbytes_per_sec == QOS_ABSENT &&
	    p->r_mbytes_per_sec == QOS_ABSENT && p->w_mbytes_per_sec == QOS_ABSENT) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "no rate limit given (rw_ios_per_sec, rw_mbytes_per_sec, "
			       "r_mbytes_per_sec or w_mbytes_per_sec)");
		return;
	}
	if (p->rw_ios_per_sec != QOS_ABSENT &&
	    p->rw_ios_per_sec % SPUR_BDEV_QOS_IOS_MULTIPLE != 0) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'rw_ios_per_sec' must be a multiple of %u (0: no limit)",
			       SPUR_BDEV_QOS_IOS_MULTIPLE);
		return;
	}
	spur_bdev_get_qos_limits(bdev, &l);
	if (p->rw_ios_per_sec != QOS_ABSENT) {
		l.rw_ios_per_sec = p->rw_ios_per_sec;
	}
	if (p->rw_mbytes_per_sec != QOS_ABSENT) {
		l.rw_mbytes_per_sec = p->rw_mbytes_per_sec;
	}
	if (p->r_mbytes_per_sec != QOS_ABSENT) {
		l.r_mbytes_per_sec = p->r_mbytes_per_sec;
	}
	if (p->w_mbytes_per_sec != QOS_ABSENT) {
		l.w_mbytes_per_sec = p->w_mbytes_per_sec;
	}
	rc = spur_bdev_set_qos_limits(bdev, &l, qos_set_done, req);
	if (rc != 0) {
		spur_rpc_error(req, rc, "bdev %s: cannot set the limits: %s", p->name, strerror(-rc));
	}
}

/* ---- bdev_wait_for_examine --------------------------------------------------------- */

static void
rpc_bdev_wait_for_examine(struct spur_rpc_request *req, void *params)
{
	/* Modules register their bdevs synchronously: nothing is ever pending. */
	spur_rpc_reply_bool(req, true);
}

/* ---- bdev_set_options ---------------------------------------------------------------- */

struct options_params {
	uint32_t bdev_io_pool_size;
	uint32_t bdev_io_cache_size;
	bool bdev_auto_examine;
	uint32_t iobuf_small_cache_size;
	uint32_t iobuf_large_cache_size;
	uint32_t small_pool_count;
	uint32_t large_pool_count;
};

static const struct spur_rpc_param g_options_params[] = {
	{"bdev_io_pool_size", SPUR_RPC_UINT32, false, true, 1, 1u << 24,
	 .offset = offsetof(struct options_params, bdev_io_pool_size),
	 .help = "request objects shared by all threads"},
	{"bdev_io_cache_size", SPUR_RPC_UINT32, false, true, 1, 1u << 20,
	 .offset = offsetof(struct options_params, bdev_io_cache_size),
	 .help = "request objects cached per thread"},
	{"bdev_auto_examine", SPUR_RPC_BOOL, false,
	 .offset = offsetof(struct options_params, bdev_auto_examine),
	 .help = "accepted for SPDK compatibility"},
	{"iobuf_small_cache_size", SPUR_RPC_UINT32, false, true, 0, 1u << 16,
	 .offset = offsetof(struct options_params, iobuf_small_cache_size),
	 .help = "8 KiB buffers cached per thread"},
	{"iobuf_large_cache_size", SPUR_RPC_UINT32, false, true, 0, 1u << 16,
	 .offset = offsetof(struct options_params, iobuf_large_cache_size),
	 .help = "132 KiB buffers cached per thread"},
	{"small_pool_count", SPUR_RPC_UINT32, false, true, 64, 1u << 20,
	 .offset = offsetof(struct options_params, small_pool_count),
	 .help = "8 KiB buffers in all (allocated on demand)"},
	{"large_pool_count", SPUR_RPC_UINT32, false, true, 8, 1u << 18,
	 .offset = offsetof(struct options_params, large_pool_count),
	 .help = "132 KiB buffers in all (allocated on demand)"},
};

static void
options_defaults(void *params)
{
	struct options_params *p = params;

	p->bdev_io_pool_size = g_bdev_opts.io_pool_size;
	p->bdev_io_cache_size = g_bdev_opts.io_cache_size;
	p->bdev_auto_examine = g_bdev_opts.auto_examine;
	p->iobuf_small_cache_size = g_bdev_opts.small_cache_size;
	p->iobuf_large_cache_size = g_bdev_opts.large_cache_size;
	p->small_pool_count = g_bdev_opts.small_pool_count;
	p->large_pool_count = g_bdev_opts.large_pool_count;
}

static void
rpc_bdev_set_options(struct spur_rpc_request *req, void *params)
{
	struct options_params *p = params;
	bool sizes_change = p->bdev_io_pool_size != g_bdev_opts.io_pool_size ||
			    p->bdev_io_cache_size != g_bdev_opts.io_cache_size ||
			    p->iobuf_small_cache_size != g_bdev_opts.small_cache_size ||
			    p->iobuf_large_cache_size != g_bdev_opts.large_cache_size ||
			    p->small_pool_count != g_bdev_opts.small_pool_count ||
			    p->large_pool_count != g_bdev_opts.large_pool_count;

	if (p->bdev_io_cache_size > p->bdev_io_pool_size) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_PARAMS,
			       "parameter 'bdev_io_cache_size' (%u) must not exceed "
			       "'bdev_io_pool_size' (%u)", p->bdev_io_cache_size,
			       p->bdev_io_pool_size);
		return;
	}
	if (sizes_change && g_bdev_mgr.started) {
		spur_rpc_error(req, SPUR_RPC_ERROR_INVALID_STATE,
			       "bdev_set_options: pool and cache sizes can only change before the "
			       "bdev subsystem starts (start spur with --wait-for-rpc)");
		return;
	}
	g_bdev_opts.io_pool_size = p->bdev_io_pool_size;
	g_bdev_opts.io_cache_size = p->bdev_io_cache_size;
	g_bdev_opts.auto_examine = p->bdev_auto_examine;
	g_bdev_opts.small_cache_size = p->iobuf_small_cache_size;
	g_bdev_opts.large_cache_size = p->iobuf_large_cache_size;
	g_bdev_opts.small_pool_count = p->small_pool_count;
	g_bdev_opts.large_pool_count = p->large_pool_count;
	spur_rpc_reply_bool(req, true);
}

/* ---- table --------------------------------------------------------------------------- */

const struct spur_rpc_method g_bdev_rpc_methods[BDEV_RPC_NUM_METHODS] = {
	{.name = "bdev_get_bdevs", .help = "Block devices and their properties",
	 .params = g_get_bdevs_params, .num_params = SPUR_COUNTOF(g_get_bdevs_params),
	 .params_size = sizeof(struct get_bdevs_params), .handler = rpc_bdev_get_bdevs,
	 .states = SPUR_RPC_RUNTIME},
	{.name = "bdev_get_iostat", .help = "I/O statistics of block devices",
	 .params = g_get_iostat_params, .num_params = SPUR_COUNTOF(g_get_iostat_params),
	 .params_size = sizeof(struct get_iostat_params), .handler = rpc_bdev_get_iostat,
	 .states = SPUR_RPC_RUNTIME},
	{.name = "bdev_set_qos_limit", .help = "Set rate limits of a bdev (0 removes one)",
	 .params = g_qos_params, .num_params = SPUR_COUNTOF(g_qos_params),
	 .params_size = sizeof(struct qos_params), .set_defaults = qos_params_defaults,
	 .handler = rpc_bdev_set_qos_limit, .states = SPUR_RPC_RUNTIME, .changes_config = true},
	{.name = "bdev_wait_for_examine", .help = "Wait until bdev examination is done",
	 .handler = rpc_bdev_wait_for_examine, .states = SPUR_RPC_RUNTIME},
	{.name = "bdev_set_options", .help = "Pool and cache sizes of the bdev layer",
	 .params = g_options_params, .num_params = SPUR_COUNTOF(g_options_params),
	 .params_size = sizeof(struct options_params), .set_defaults = options_defaults,
	 .handler = rpc_bdev_set_options, .states = BOTH, .changes_config = true},
};
