/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared harness of the bdev module unit tests (malloc, null, passthru,
 * delay, error): the real bdev layer and the real modules, driven on two
 * unplaced threads polled by hand.
 *
 * Thread 0 is the application thread (RPC handlers, open / close, events);
 * thread 1 submits I/O, like a front end's poll group. Time is real
 * (spur_get_ticks): the delay module's due times are real ticks, so the
 * pollers are run with the real clock too.
 *
 * RPCs go through spur_rpc_call, so parameter decoding, error codes and
 * messages are the ones clients see.
 */
#ifndef SPUR_MODULE_BDEV_UT_MOD_H
#define SPUR_MODULE_BDEV_UT_MOD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <cmocka.h>

#include <jansson.h>

#include "spur/bdev.h"
#include "spur/bdev_module.h"
#include "spur/thread.h"

extern struct spur_thread *ut_app;
extern struct spur_thread *ut_io;

/* Threads, the five modules (registered once per process), the bdev subsystem. */
int ut_mod_setup(void **state);
/* Stop the subsystem (every bdev unregistered), then the threads. */
int ut_mod_teardown(void **state);

/* Poll both threads once (real clock); returns the work done. */
int ut_poll_once(void);
/* Poll until nothing happens. */
void ut_poll(void);
/* Poll until *flag is true or timeout_us passed; returns *flag. */
bool ut_poll_until(const bool *flag, uint64_t timeout_us);
/* Poll for us microseconds. */
void ut_poll_for(uint64_t us);

/*
 * Call an RPC with params built by json_pack(fmt, ...) (fmt NULL: no
 * params), poll until it replies, and return its code (0 on success).
 * The result (a new reference, or NULL) goes to *result when result is not
 * NULL; the error message to ut_rpc_msg.
 */
int ut_rpc(json_t **result, const char *method, const char *fmt, ...);
extern char ut_rpc_msg[512];
/* Start an RPC without waiting; *done turns true when it replies. */
struct ut_rpc_call {
	bool done;
	int code;
	char msg[256];
	json_t *result;
};
void ut_rpc_start(struct ut_rpc_call *call, const char *method, json_t *params);

/*
 * A bdev opened on the app thread with a channel on the I/O thread. The
 * harness owns it (a test that fails leaves it to the teardown to close);
 * removes / resizes count the events its opener received.
 */
struct ut_dev {
	struct spur_bdev_desc *desc;
	struct spur_io_channel *ch;
	int removes;
	int resizes;
};
/* Returns 0 and *d, or the open error (*d NULL). */
int ut_open(struct ut_dev **d, const char *name, bool write);
/* Put the channel (on the I/O thread), then close (app thread). */
void ut_close(struct ut_dev *d);

/* One request in flight. */
struct ut_req {
	bool done;
	int status;
	uint64_t submit_ticks;
	uint64_t done_ticks;
	struct iovec iov;
};
/* Submit on the I/O thread; returns the submit function's rc. */
int ut_submit(struct ut_dev *d, struct ut_req *r, enum spur_bdev_io_type type, void *buf,
	      uint64_t offset_blocks, uint64_t num_blocks);
/* Submit and poll until done (10 s at most); returns the completion status. */
int ut_do(struct ut_dev *d, enum spur_bdev_io_type type, void *buf, uint64_t offset_blocks,
	  uint64_t num_blocks);
/* Microseconds from submission to completion. */
uint64_t ut_req_us(const struct ut_req *r);

/*
 * Set the layer's request pool size for the next ut_mod_setup (0: the
 * default). A tiny pool makes a stacked module's base submissions fail with
 * -ENOMEM, which the module must ride out on the base's wait queue.
 */
void ut_set_io_pool_size(uint32_t n);
/*
 * With a pool of 7 requests, write 4 requests of 1 block through the
 * stacked bdev 'name' (on a base that completes at once) without polling:
 * the 4th base submission runs out of requests. Checks every write
 * completes with success and the data reads back.
 */
void ut_check_base_nomem(const char *name);

/* The module's save_config entry for a bdev (new reference). */
json_t *ut_config_of(const char *name);

#endif
