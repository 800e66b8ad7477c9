/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The delay bdev module: a virtual bdev on a claimed base that completes
 * reads and writes no earlier than their configured latency after they were
 * submitted (about 1% of them get the p99 latency, the rest the average).
 *
 * Creation, latency updates and deletion run on the application thread; I/O
 * on any thread.
 */
#ifndef SPUR_MODULE_BDEV_DELAY_H
#define SPUR_MODULE_BDEV_DELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spur/bdev_module.h"

extern const struct spur_bdev_module spur_bdev_delay_module;

enum bdev_delay_latency {
	BDEV_DELAY_AVG_READ,
	BDEV_DELAY_P99_READ,
	BDEV_DELAY_AVG_WRITE,
	BDEV_DELAY_P99_WRITE,
	BDEV_DELAY_NUM_LATENCIES,
};

/* Latencies are microseconds, at most this (one hour). */
#define BDEV_DELAY_MAX_LATENCY_US 3600000000ull

/* "avg_read", "p99_read", "avg_write", "p99_write" <-> the enum (-EINVAL if unknown). */
const char *bdev_delay_latency_name(enum bdev_delay_latency type);
int bdev_delay_latency_parse(const char *name);

/*
 * Open base_name read-write, claim it and register a delay bdev called name
 * (app thread). latency_us is indexed by enum bdev_delay_latency; uuid is 16
 * bytes or NULL. Returns 0, -EEXIST, -ENODEV (no base), -EPERM (base
 * claimed), -EINVAL (latency too large), -ENOMEM; err gets a message.
 */
int bdev_delay_create(const char *base_name, const char *name,
		      const uint64_t latency_us[BDEV_DELAY_NUM_LATENCIES], const uint8_t *uuid,
		      char *err, size_t err_len);
/*
 * Set one latency of the delay bdev called name (app thread). Requests
 * already submitted keep their due time. Returns 0, -ENODEV, -EINVAL.
 */
int bdev_delay_update_latency(const char *name, enum bdev_delay_latency type, uint64_t us);
/* The present value, or -ENODEV when there is no such delay bdev. */
int bdev_delay_get_latency(const char *name, enum bdev_delay_latency type, uint64_t *us);
/*
 * Unregister the delay bdev called name (app thread); requests it holds
 * complete at once (with the base's status) as the removal starts.
 * Returns -ENODEV if there is none (cb never runs), else 0 and
 * cb(cb_arg, status) once it is gone.
 */
int bdev_delay_delete(const char *name, void (*cb)(void *cb_arg, int status), void *cb_arg);

/* Hooks of the module table (defined with the RPC methods in bdev_delay_rpc.c). */
size_t bdev_delay_get_ctx_size(void);

/*
 * The scheduling rules, exposed for unit tests: the poller period for a set
 * of latencies (a tenth of the smallest non-zero one, 1..1000 us), and
 * whether the next request of a channel with PRNG state *rng gets the p99
 * latency (about one in a hundred).
 */
uint64_t bdev_delay_poll_period_us(const uint64_t latency_us[BDEV_DELAY_NUM_LATENCIES]);
bool bdev_delay_pick_p99(uint64_t *rng);

#endif
