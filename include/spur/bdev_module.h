/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The block-device layer, as modules see it (module/bdev/<name>/).
 *
 * A module is a table (struct spur_bdev_module) registered explicitly at
 * start-up (app/spur/modules.c); it declares its per-I/O context size, its
 * RPC methods and the save_config writer for its bdevs. A bdev is a struct
 * spur_bdev the module fills and registers; the layer owns it until the
 * module's destruct runs after the last descriptor closes.
 *
 * Requests reach the module through fn_table->submit_request on the
 * submitting thread, with the module's own channel (from its
 * get_io_channel) for that thread. They are already range-checked, split
 * to max_transfer_blocks and the optimal boundary, and bounced to
 * required_alignment. The module completes each exactly once with
 * spur_bdev_io_complete(), from the same thread; completing inside
 * submit_request is allowed (the layer defers the user's callback).
 * Per-request module state lives in io->driver_ctx (get_ctx_size bytes),
 * so a module never allocates per I/O.
 */
#ifndef SPUR_BDEV_MODULE_H
#define SPUR_BDEV_MODULE_H

#include <jansson.h>

#include "spur/bdev.h"
#include "spur/rpc.h"

struct spur_bdev_module {
	const char *name;
	/* Start / stop the module (app thread). Either may be NULL. */
	int (*module_init)(void);
	/* Called after every bdev was unregistered; done() when finished. */
	void (*module_fini)(void (*done)(void));
	/* Bytes of per-request context (io->driver_ctx). */
	size_t (*get_ctx_size)(void);
	const struct spur_rpc_method *methods;
	size_t num_methods;
	/*
	 * The call that undoes a create call of this module for a failed
	 * load_config (see struct spur_subsystem.undo_call), or NULL.
	 */
	json_t *(*undo_call)(const char *method, json_t *params);
};

struct spur_bdev_fn_table {
	/*
	 * Free the module's device. Return 0 when done, or 1 and call
	 * spur_bdev_destruct_done(bdev) later.
	 */
	int (*destruct)(void *ctx);
	void (*submit_request)(struct spur_io_channel *ch, struct spur_bdev_io *io);
	bool (*io_type_supported)(void *ctx, enum spur_bdev_io_type type);
	/* The module's channel for the current thread. */
	struct spur_io_channel *(*get_io_channel)(void *ctx);
	/* Optional: members of "driver_specific" in bdev_get_bdevs. */
	void (*dump_info_json)(void *ctx, json_t *driver_specific);
	/* Append the {"method","params"} that recreate this bdev; NULL = none. */
	void (*write_config_json)(struct spur_bdev *bdev, json_t *config);
};

struct spur_bdev_internal; /* the layer's own state, lib/bdev */

struct spur_bdev {
	/* Filled by the module before spur_bdev_register(). */
	char *name;                        /* owned by the module */
	const char *product_name;
	uint32_t blocklen;                 /* 512..: power of two */
	uint64_t blockcnt;
	uint8_t uuid[16];                  /* all zero: the layer generates one */
	bool write_cache;
	uint32_t required_alignment;       /* bytes, power of two; 0/1 = none */
	uint32_t max_transfer_blocks;      /* 0 = no limit */
	uint32_t optimal_io_boundary;      /* blocks; 0 = none */
	bool split_on_optimal_io_boundary;
	uint32_t max_unmap_blocks;         /* 0 = no limit */
	uint32_t max_write_zeroes_blocks;  /* 0 = no limit */
	void *ctxt;                        /* module's device */
	const struct spur_bdev_fn_table *fn_table;
	const struct spur_bdev_module *module;

	/* Owned by the layer. */
	struct spur_bdev_internal *internal;
};

/* A request as the module sees it. */
struct spur_bdev_io {
	struct spur_bdev *bdev;
	enum spur_bdev_io_type type;
	uint32_t flags;                    /* SPUR_BDEV_IO_* */
	uint64_t offset_blocks;
	uint64_t num_blocks;
	struct iovec *iovs;                /* READ/WRITE data */
	int iovcnt;
	/*
	 * The layer keeps its bookkeeping in a private header placed before
	 * this struct in the same allocation; driver_ctx follows it.
	 */
	uint8_t driver_ctx[] __attribute__((aligned(16)));
};

/* Register modules (app/spur/modules.c) and the "bdev" subsystem. */
void spur_bdev_module_register(const struct spur_bdev_module *module);
/* The "bdev" subsystem (save_config writes each bdev's create call). */
struct spur_subsystem;
extern const struct spur_subsystem spur_bdev_subsystem;

/*
 * Register a filled bdev (app thread). Returns 0, -EEXIST (name or alias
 * taken), -EINVAL (bad geometry).
 */
int spur_bdev_register(struct spur_bdev *bdev);
/*
 * Hot-remove: openers get SPUR_BDEV_EVENT_REMOVE; new I/O fails with
 * -ENODEV; when the last descriptor closes, destruct runs, then cb(cb_arg,
 * status). App thread.
 */
void spur_bdev_unregister(struct spur_bdev *bdev, void (*cb)(void *cb_arg, int status),
			  void *cb_arg);
void spur_bdev_destruct_done(struct spur_bdev *bdev);
/* Add an alias (another name that finds the bdev); -EEXIST if taken. */
int spur_bdev_alias_add(struct spur_bdev *bdev, const char *alias);
/* Change the size (grow or shrink); openers get SPUR_BDEV_EVENT_RESIZE. */
int spur_bdev_notify_blockcnt_change(struct spur_bdev *bdev, uint64_t blockcnt);

/* Complete a request with 0 or an enum spur_bdev_status value. */
void spur_bdev_io_complete(struct spur_bdev_io *io, int status);
struct spur_io_channel *spur_bdev_io_get_io_channel(struct spur_bdev_io *io);

/*
 * Claims: a virtual bdev claims its base for exclusive writing through its
 * own read-write descriptor. A second claim fails with -EPERM; opening the
 * base read-write by anyone else fails while claimed.
 */
int spur_bdev_module_claim_bdev(struct spur_bdev *bdev, struct spur_bdev_desc *desc,
				const struct spur_bdev_module *module);
void spur_bdev_module_release_bdev(struct spur_bdev *bdev);

/*
 * Write {"method": method, "params": params} into config (helper). params is
 * borrowed: the helper takes its own reference, the caller still owns (and
 * json_decref's) its reference.
 */
void spur_bdev_config_add(json_t *config, const char *method, json_t *params);

#endif
