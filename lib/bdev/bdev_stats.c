/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Statistics: merging, collecting a bdev's figures and their JSON form.
 *
 * Each channel counts its own requests (bdev_io.c, no sharing); a destroyed
 * channel's counters are folded into the bdev (under g_bdev_mgr.lock). The
 * figures of a bdev are the folded ones plus every live channel's, read on
 * the channel's own thread by spur_for_each_channel, so no counter is ever
 * read while its thread writes it. Minimum latencies are UINT64_MAX inside
 * (no request yet) and reported as 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev_internal.h"
#include "spur/log.h"

void
bdev_stat_init(struct spur_bdev_io_stat *stat)
{
	memset(stat, 0, sizeof(*stat));
	stat->min_read_latency_ticks = UINT64_MAX;
	stat->min_write_latency_ticks = UINT64_MAX;
	stat->min_unmap_latency_ticks = UINT64_MAX;
}

void
bdev_stat_add(struct spur_bdev_io_stat *d, const struct spur_bdev_io_stat *s)
{
	d->bytes_read += s->bytes_read;
	d->num_read_ops += s->num_read_ops;
	d->read_latency_ticks += s->read_latency_ticks;
	d->bytes_written += s->bytes_written;
	d->num_write_ops += s->num_write_ops;
	d->write_latency_ticks += s->write_latency_ticks;
	d->bytes_unmapped += s->bytes_unmapped;
	d->num_unmap_ops += s->num_unmap_ops;
	d->unmap_latency_ticks += s->unmap_latency_ticks;
	d->num_flush_ops += s->num_flush_ops;
	d->flush_latency_ticks += s->flush_latency_ticks;
	d->bytes_copied += s->bytes_copied;
	d->num_copy_ops += s->num_copy_ops;
	d->max_read_latency_ticks = SPUR_MAX(d->max_read_latency_ticks, s->max_read_latency_ticks);
	d->min_read_latency_ticks = SPUR_MIN(d->min_read_latency_ticks, s->min_read_latency_ticks);
	d->max_write_latency_ticks =
		SPUR_MAX(d->max_write_latency_ticks, s->max_write_latency_ticks);
	d->min_write_latency_ticks =
		SPUR_MIN(d->min_write_latency_ticks, s->min_write_latency_ticks);
	d->max_unmap_latency_ticks =
		SPUR_MAX(d->max_unmap_latency_ticks, s->max_unmap_latency_ticks);
	d->min_unmap_latency_ticks =
		SPUR_MIN(d->min_unmap_latency_ticks, s->min_unmap_latency_ticks);
	d->num_errors += s->num_errors;
	d->bytes_zeroed += s->bytes_zeroed;
	d->num_write_zeroes_ops += s->num_write_zeroes_ops;
	d->write_zeroes_latency_ticks += s->write_zeroes_latency_ticks;
	d->num_reset_ops += s->num_reset_ops;
	for (int i = 0; i < BDEV_NUM_STATUS; i++) {
		d->io_error[i] += s->io_error[i];
	}
	d->queue_depth += s->queue_depth;
	d->io_time_ticks += s->io_time_ticks;
	d->weighted_io_time_ticks += s->weighted_io_time_ticks;
}

/* ---- collecting ------------------------------------------------------------- */

struct stat_walk {
	struct spur_bdev_io_stat *stat;
	void (*cb)(void *cb_arg, int status);
	void *cb_arg;
};

static void
stat_channel(struct spur_io_channel_iter *i)
{
	struct stat_walk *w = spur_io_channel_iter_get_ctx(i);
	struct bdev_channel *ch = spur_io_channel_get_ctx(spur_io_channel_iter_get_channel(i));
	uint64_t now = spur_get_ticks();

	bdev_stat_add(w->stat, &ch->stat);
	w->stat->queue_depth += ch->outstanding;
	if (ch->outstanding != 0 && now > ch->last_tsc) {
		/* The busy time up to now, not yet integrated. */
		w->stat->io_time_ticks += now - ch->last_tsc;
		w->stat->weighted_io_time_ticks += (now - ch->last_tsc) * ch->outstanding;
	}
	spur_for_each_channel_continue(i, 0);
}

static void
stat_fix_min(uint64_t *v)
{
	if (*v == UINT64_MAX) {
		*v = 0;
	}
}

static void
stat_done(struct spur_io_channel_iter *i, int status)
{
	struct stat_walk *w = spur_io_channel_iter_get_ctx(i);

	stat_fix_min(&w->stat->min_read_latency_ticks);
	stat_fix_min(&w->stat->min_write_latency_ticks);
	stat_fix_min(&w->stat->min_unmap_latency_ticks);
	w->cb(w->cb_arg, status);
	free(w);
}

int
spur_bdev_get_device_stat(struct spur_bdev *bdev, struct spur_bdev_io_stat *stat,
			  void (*cb)(void *cb_arg, int status), void *cb_arg)
{
	struct stat_walk *w;

	if (bdev == NULL || bdev->internal == NULL || stat == NULL || cb == NULL) {
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		return -ENOMEM;
	}
	w->stat = stat;
	w->cb = cb;
	w->cb_arg = cb_arg;
	pthread_mutex_lock(&g_bdev_mgr.lock);
	*stat = bdev->internal->stat;
	pthread_mutex_unlock(&g_bdev_mgr.lock);
	spur_for_each_channel(bdev_io_dev(bdev), stat_channel, w, stat_done);
	return 0;
}

/* ---- JSON ------------------------------------------------------------------- */

static void
put_u64(json_t *obj, const char *name, uint64_t v)
{
	json_object_set_new(obj, name, json_integer((json_int_t)v));
}

void
bdev_stat_to_json(const struct spur_bdev_io_stat *s, json_t *o)
{
	json_t *err = json_object();

	put_u64(o, "bytes_read", s->bytes_read);
	put_u64(o, "num_read_ops", s->num_read_ops);
	put_u64(o, "bytes_written", s->bytes_written);
	put_u64(o, "num_write_ops", s->num_write_ops);
	put_u64(o, "bytes_unmapped", s->bytes_unmapped);
	put_u64(o, "num_unmap_ops", s->num_unmap_ops);
	put_u64(o, "bytes_copied", s->bytes_copied);
	put_u64(o, "num_copy_ops", s->num_copy_ops);
	put_u64(o, "read_latency_ticks", s->read_latency_ticks);
	put_u64(o, "max_read_latency_ticks", s->max_read_latency_ticks);
	put_u64(o, "min_read_latency_ticks", s->min_read_latency_ticks);
	put_u64(o, "write_latency_ticks", s->write_latency_ticks);
	put_u64(o, "max_write_latency_ticks", s->max_write_latency_ticks);
	put_u64(o, "min_write_latency_ticks", s->min_write_latency_ticks);
	put_u64(o, "unmap_latency_ticks", s->unmap_latency_ticks);
	put_u64(o, "max_unmap_latency_ticks", s->max_unmap_latency_ticks);
	put_u64(o, "min_unmap_latency_ticks", s->min_unmap_latency_ticks);
	put_u64(o, "copy_latency_ticks", 0);
	put_u64(o, "max_copy_latency_ticks", 0);
	put_u64(o, "min_copy_latency_ticks", 0);
	for (int i = 1; i < BDEV_NUM_STATUS; i++) {
		if (s->io_error[i] != 0) {
			put_u64(err, spur_bdev_status_name(-i), s->io_error[i]);
		}
	}
	json_object_set_new(o, "io_error", err);
	put_u64(o, "queue_depth_polling_period", 0);
	put_u64(o, "queue_depth", s->queue_depth);
	/* SPDK reports these in microseconds (its sampling period's unit). */
	put_u64(o, "io_time", spur_ticks_to_us(s->io_time_ticks));
	put_u64(o, "weighted_io_time", spur_ticks_to_us(s->weighted_io_time_ticks));
	/* spur's own. */
	put_u64(o, "num_flush_ops", s->num_flush_ops);
	put_u64(o, "flush_latency_ticks", s->flush_latency_ticks);
	put_u64(o, "bytes_zeroed", s->bytes_zeroed);
	put_u64(o, "num_write_zeroes_ops", s->num_write_zeroes_ops);
	put_u64(o, "write_zeroes_latency_ticks", s->write_zeroes_latency_ticks);
	put_u64(o, "num_reset_ops", s->num_reset_ops);
	put_u64(o, "num_errors", s->num_errors);
}
