/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared harness of lib/bdev's unit tests: a fake bdev module and hand-driven
 * threads.
 *
 * The fake module ("ut_fake") records every request it is given (copying the
 * request's geometry and iovecs at submit time), keeps them pending until the
 * test completes them with ut_complete(), or completes them inside
 * submit_request when ut_fake.inline_status >= -6 is set. A fake bdev has a
 * small backing store: completing a read or write copies the data, so bounce
 * and split paths can be checked end to end. Its limits (max transfer,
 * boundary, alignment, unmap limits, supported types) are set per bdev.
 *
 * Threads are unplaced spur threads polled by the test (ut_poll), with a fake
 * clock (ut_now) for timed pollers and QoS.
 */
#ifndef SPUR_BDEV_UT_COMMON_H
#define SPUR_BDEV_UT_COMMON_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <cmocka.h>

#include "bdev_internal.h"
#include "spur/bdev.h"
#include "spur/bdev_module.h"
#include "spur/config.h"
#include "spur/thread.h"

#define UT_MAX_THREADS 4
#define UT_MAX_RECS 16384 /* > QoS backlog (250 slices) x the real-clock test's 50 per slice */
#define UT_REC_IOVS 40
#define UT_CTX_SIZE 96
#define UT_NO_INLINE 1000

struct ut_rec {
	struct spur_bdev_io *io;
	struct spur_bdev *bdev;
	enum spur_bdev_io_type type;
	uint64_t offset;
	uint64_t num;
	int iovcnt;
	struct iovec iovs[UT_REC_IOVS];
	struct spur_thread *thread;
	bool done;
};

struct ut_fake_bdev {
	struct spur_bdev bdev;
	char name[64];
	uint8_t *data;            /* blockcnt * blocklen backing store */
	uint32_t io_mask;         /* supported types */
	int destructs;
	bool async_destruct;      /* destruct returns 1 */
	struct ut_fake_bdev *base; /* virtual bdev: its claimed base */
	struct spur_bdev_desc *base_desc;
};

struct ut_fake_state {
	struct ut_rec recs[UT_MAX_RECS];
	int num_recs;             /* submitted so far (index of the next record) */
	int next_pending;         /* first record not completed yet (FIFO) */
	int inline_status;        /* complete inside submit_request when <= 0 */
	int module_inits;
	int module_finis;
	int destruct_order[16];
	int num_destructs;
	uint64_t channel_creates;
};

extern struct ut_fake_state ut_fake;
extern const struct spur_bdev_module ut_fake_module;
extern struct spur_thread *ut_threads[UT_MAX_THREADS];
extern uint64_t ut_now;

/* Create threads (thread 0 is the app thread and current), register the module. */
void ut_setup(int nthreads);
/* Start the "bdev" subsystem (polls until done). */
void ut_subsystem_start(void);
/* Stop it (unregisters every bdev); asserts completion. */
void ut_subsystem_stop(void);
/* Exit and destroy the threads. */
void ut_teardown(void);

/* Poll every thread until nothing happens (also advances nothing). */
int ut_poll(void);
/* Advance the fake clock by us and poll. */
void ut_advance_us(uint64_t us);
void ut_set_thread(int i);

/* A fake bdev: blocklen x blockcnt, everything supported but write_zeroes. */
struct ut_fake_bdev *ut_fake_create(const char *name, uint32_t blocklen, uint64_t blockcnt);
int ut_fake_register(struct ut_fake_bdev *fb);
void ut_fake_free(struct ut_fake_bdev *fb);

/* Complete the oldest pending request with status (executes data transfer). */
void ut_complete_one(int status);
/* Complete a specific record. */
void ut_complete_rec(int rec, int status);
int ut_pending(void);
void ut_reset_recs(void);

/* A completion recorder for callbacks. */
struct ut_cpl {
	int count;
	int status;
	struct spur_thread *thread;
	struct spur_bdev_io *io;
	bool free_io;
};
void ut_cpl_cb(struct spur_bdev_io *io, int status, void *cb_arg);

void ut_event_cb(enum spur_bdev_event event, struct spur_bdev *bdev, void *ctx);
struct ut_events {
	int remove;
	int resize;
	struct spur_thread *thread;
};

#endif
