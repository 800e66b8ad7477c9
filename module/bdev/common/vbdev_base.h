/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stacked-bdev helper: what passthru, delay and error do alike as
 * virtual bdevs on top of a claimed base bdev.
 *
 * A module's device starts with a struct vbdev_base (its first member; the
 * helper frees the device with free()), its channel with a struct
 * vbdev_base_channel and its per-request context (io->driver_ctx) with a
 * struct vbdev_base_io. The helper then owns:
 *
 *   create    vbdev_base_alloc (name free? allocate the zeroed device),
 *             the module fills its own fields, vbdev_base_register: open the
 *             base read-write -> claim it -> copy its geometry and limits ->
 *             io_device (the struct vbdev_base) -> spur_bdev_register ->
 *             optionally open the new bdev read-only to hear of its own
 *             removal (ops->self_event)
 *   channels  each holds the base's channel for its thread, taken after
 *             ops->channel_create and put after ops->channel_destroy
 *   I/O       vbdev_base_submit forwards a request to the base with the
 *             caller's iovecs; when the base completes, the base request is
 *             freed and ops->base_done (default: complete with the base's
 *             status) runs. A base out of request objects (-ENOMEM) puts the
 *             request on the base's wait queue and it is resubmitted from
 *             there; any other refusal completes it with a status
 *             (ops->complete, default spur_bdev_io_complete)
 *   removal   delete (vbdev_base_delete) or the base's hot-remove: 'removing'
 *             is set, then ops->remove (default spur_bdev_unregister); a base
 *             resize is followed
 *   destruct  (fn_table->destruct = vbdev_base_destruct) on the app thread:
 *             io_device unregister -> every channel gone -> release the claim,
 *             close the base -> spur_bdev_destruct_done -> free
 *
 * Threading: the descriptors, the claim, 'removing' and the events belong
 * to the application thread. A channel and the requests submitted through it
 * belong to the channel's thread; the base completes on the submitting
 * thread, so completions come back there. Nothing is shared between I/O
 * threads.
 */
#ifndef SPUR_MODULE_BDEV_COMMON_VBDEV_BASE_H
#define SPUR_MODULE_BDEV_COMMON_VBDEV_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spur/bdev_module.h"

struct vbdev_base;
struct vbdev_base_io;

/* What a stacked module tells the helper (a static const table per module). */
struct vbdev_base_ops {
	const struct spur_bdev_module *module;   /* claims the base; names it in messages */
	const struct spur_bdev_fn_table *fn_table;
	const char *product_name;
	const char *log_component;               /* "bdev_passthru": debug messages */
	/* How the base hot-remove notice names the device: "passthru ", "" ... */
	const char *remove_noun;
	/* Bytes of the module's channel, which starts with struct vbdev_base_channel. */
	size_t channel_size;
	/* Optional: set up / tear down the rest of a channel (its thread). */
	int (*channel_create)(struct vbdev_base *vb, void *channel);
	void (*channel_destroy)(struct vbdev_base *vb, void *channel);
	/* Optional: the base finished bio with status (base request already freed). */
	void (*base_done)(struct vbdev_base_io *bio, int status);
	/* Optional: complete a request the base refused (default spur_bdev_io_complete). */
	void (*complete)(struct vbdev_base_io *bio, int status);
	/*
	 * Optional: unregister after 'removing' was set (delete or base
	 * hot-remove); must end in spur_bdev_unregister(&vb->bdev, cb, cb_arg).
	 */
	void (*remove)(struct vbdev_base *vb, void (*cb)(void *cb_arg, int status), void *cb_arg);
	/*
	 * Optional: the REMOVE event of the bdev itself, whoever unregistered it,
	 * on a read-only descriptor the helper holds; the module lets its held
	 * requests go and then calls vbdev_base_close_self.
	 */
	void (*self_event)(struct vbdev_base *vb);
};

struct vbdev_base {
	struct spur_bdev bdev;            /* ours; bdev.ctxt is this struct */
	struct spur_bdev *base;
	struct spur_bdev_desc *base_desc; /* read-write, claimed */
	char *base_name;
	bool removing;                    /* unregister started: delete finds nothing */
	struct spur_bdev_desc *self_desc; /* with ops->self_event, until closed */
	const struct vbdev_base_ops *ops;
};

/* The start of a module's channel. */
struct vbdev_base_channel {
	struct spur_io_channel *base_ch;  /* the base's channel on this thread */
	struct vbdev_base *vb;
};

/* The start of a module's per-request context (io->driver_ctx). */
struct vbdev_base_io {
	struct spur_bdev_io *io;
	struct vbdev_base_channel *ch;
	struct spur_bdev_io_wait_entry wait;
};

/*
 * Allocate a zeroed device of size bytes (starting with struct vbdev_base)
 * named name, to stack on base_name. Returns 0 and *vb, or -EEXIST (name
 * taken) / -ENOMEM with a message in err (may be NULL). App thread.
 */
int vbdev_base_alloc(size_t size, const char *name, const char *base_name,
		     struct vbdev_base **vb, char *err, size_t err_len);
/*
 * Open, claim, copy the base's properties, register (see the top of this
 * file). uuid is 16 bytes or NULL (generated). Returns 0, or -ENODEV (no
 * base), -EPERM (base claimed), the layer's error, with a message in err;
 * on failure the device is freed. App thread.
 */
int vbdev_base_register(struct vbdev_base *vb, const struct vbdev_base_ops *ops,
			const uint8_t *uuid, char *err, size_t err_len);
/*
 * The device of module called name, or NULL; a device being removed is
 * still found (its 'removing' says so).
 */
struct vbdev_base *vbdev_base_find(const char *name, const struct spur_bdev_module *module);
/*
 * Unregister the device of module called name (app thread): -ENODEV if there
 * is none or it is already being removed (cb never runs), else 0 and
 * cb(cb_arg, status) once every opener closed it and the base was released.
 */
int vbdev_base_delete(const char *name, const struct spur_bdev_module *module,
		      void (*cb)(void *cb_arg, int status), void *cb_arg);
/* Close the self descriptor (ops->self_event is done with it). App thread. */
void vbdev_base_close_self(struct vbdev_base *vb);

/* Start bio for io submitted on ch (the module's channel); returns bio. */
struct vbdev_base_io *vbdev_base_io_init(struct spur_io_channel *ch, struct spur_bdev_io *io);
/* Forward bio's request to the base (thread of bio's channel). */
void vbdev_base_submit(struct vbdev_base_io *bio);
/* fn_table->submit_request of a module that only forwards (passthru). */
void vbdev_base_submit_request(struct spur_io_channel *ch, struct spur_bdev_io *io);

/* fn_table entries shared by every stacked module; ctx is the struct vbdev_base. */
int vbdev_base_destruct(void *ctx);
bool vbdev_base_io_type_supported(void *ctx, enum spur_bdev_io_type type);
/*
 * Add {"method": method, "params": params + "uuid"} to config; takes the
 * reference of params (may be NULL: nothing is written).
 */
void vbdev_base_write_config(struct spur_bdev *bdev, json_t *config, const char *method,
			     json_t *params);

#endif
