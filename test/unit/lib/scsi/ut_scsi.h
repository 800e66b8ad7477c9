/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared harness of lib/scsi's unit tests: the real bdev layer with a tiny
 * in-test RAM bdev module ("ut_disk"), hand-polled threads, and helpers to
 * run one SCSI command and look at its outcome.
 *
 * Threads: ut_app is the application thread (device and LUN management,
 * events, PERSISTENT RESERVE OUT); ut_io[0] and ut_io[1] submit tasks like two
 * front-end poll groups, each with its own channel of the device.
 *
 * The disk completes requests inside submit_request (the layer defers the
 * callback) unless hold is set: then requests wait in a list until the test
 * releases them (ut_disk_release), which is how in-flight I/O is kept
 * outstanding for aborts, resets and removals. Status injection makes the
 * next requests of a type fail with a bdev status.
 *
 * Every test starts (ut_setup) with device "ut_dev", LUN 0 on disk "d0"
 * (512-byte blocks, UT_BLOCKS of them, write cache, every type supported),
 * initiator ports ut_a (id 1) and ut_b (id 2), and their power-on unit
 * attentions already consumed.
 */
#ifndef SPUR_SCSI_UT_H
#define SPUR_SCSI_UT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <cmocka.h>

#include "spur/bdev.h"
#include "spur/bdev_module.h"
#include "spur/scsi.h"
#include "spur/thread.h"

#define UT_BS 512u
#define UT_BLOCKS 1024u
#define UT_MAX_HELD 64

struct ut_disk {
	struct spur_bdev bdev;
	char name[32];
	uint8_t *data;
	uint32_t io_mask;             /* supported types (1u << type) */
	bool hold;                    /* keep requests until ut_disk_release */
	struct spur_bdev_io *held[UT_MAX_HELD];
	struct spur_thread *held_thread[UT_MAX_HELD];
	int nheld;
	int inject_status;            /* fail the next inject_count requests of inject_type */
	int inject_count;
	enum spur_bdev_io_type inject_type;
	uint32_t count[SPUR_BDEV_IO_NUM_TYPES];
	uint32_t last_flags;          /* flags of the last write / write_zeroes */
	void *last_iov_base;          /* first iovec of the last read / write */
	uint64_t last_offset, last_num;
	bool destructed;
};

extern struct spur_thread *ut_app;
extern struct spur_thread *ut_io[2];
extern struct spur_scsi_dev *ut_dev;
extern struct spur_io_channel *ut_ch[2];
extern struct ut_disk *ut_d0;
extern struct spur_scsi_port ut_a, ut_b;

/* Events seen by the device hook and by hot-remove callbacks. */
struct ut_events {
	int added, removed, resized, hotremoved;
	uint16_t last_lun;
};
extern struct ut_events ut_ev;

/* cmocka group / test setup and teardown. */
int ut_group_setup(void **state);
int ut_group_teardown(void **state);
int ut_setup(void **state);
int ut_teardown(void **state);
/* Shrink the bdev request pool before the layer starts (group setup of the -ENOMEM test). */
void ut_set_bdev_pool(uint32_t pool, uint32_t cache);

int ut_poll_once(void);
void ut_poll(void);
/* Poll n rounds (while something polls forever, e.g. bdev request waiters). */
void ut_poll_rounds(int n);

/* A RAM disk registered with the bdev layer (app thread). */
struct ut_disk *ut_disk_create(const char *name, uint32_t bs, uint64_t blocks);
/* Hot-remove it (spur_bdev_unregister); memory is freed at teardown. */
void ut_disk_unregister(struct ut_disk *d);
/* Complete every held request with status (on its thread). */
void ut_disk_release(struct ut_disk *d, int status);

/* One command. */
struct ut_req {
	struct spur_scsi_task task;
	struct iovec iov[4];
	int done;
	int seq; /* value of ut_seq when the callback ran */
};
/* Incremented by every task callback (and by tests' other callbacks) to check order. */
extern int ut_seq;

/*
 * Fill r and submit on ut_io[t] (cdb of cdb_len bytes, data buf/len in one
 * iovec, or none when buf is NULL). Returns spur_scsi_dev_queue_task's rc.
 */
int ut_submit(struct ut_req *r, int t, const struct spur_scsi_port *port, uint16_t lun,
	      const uint8_t *cdb, size_t cdb_len, enum spur_scsi_dir dir, void *buf,
	      uint32_t len);
/* Submit, poll until the callback ran, assert it ran once. */
void ut_run(struct ut_req *r, int t, const struct spur_scsi_port *port, uint16_t lun,
	    const uint8_t *cdb, size_t cdb_len, enum spur_scsi_dir dir, void *buf, uint32_t len);
/* ut_run on thread 0 from ut_a on LUN 0; returns the status. */
uint8_t ut_cmd(struct ut_req *r, const uint8_t *cdb, size_t cdb_len, enum spur_scsi_dir dir,
	       void *buf, uint32_t len);
/* Release a completed request (spur_scsi_task_put on its thread). */
void ut_put(struct ut_req *r, int t);

/* CHECK CONDITION with fixed-format sense key / ASC / ASCQ. */
void ut_assert_sense(const struct spur_scsi_task *task, uint8_t key, uint8_t asc, uint8_t ascq);
/* Send TEST UNIT READY from port to lun until no unit attention is left. */
void ut_drain_ua(const struct spur_scsi_port *port, uint16_t lun);

/* CDB builders. */
void ut_cdb_rw10(uint8_t *cdb, uint8_t op, uint32_t lba, uint16_t num);
void ut_cdb_rw16(uint8_t *cdb, uint8_t op, uint64_t lba, uint32_t num);

void ut_be16(uint8_t *p, uint16_t v);
void ut_be32(uint8_t *p, uint32_t v);
void ut_be64(uint8_t *p, uint64_t v);
uint16_t ut_get16(const uint8_t *p);
uint32_t ut_get32(const uint8_t *p);
uint64_t ut_get64(const uint8_t *p);

#endif
