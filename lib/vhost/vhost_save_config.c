/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The save_config entries every device type (vhost_blk.c, vhost_scsi.c)
 * writes the same way after its create call: today the
 * vhost_controller_set_coalescing call that restores coalescing changed
 * at run time. Kept apart from vhost_rpc.c (the shared RPC handlers) so
 * that a device type's unit test can link it without the RPC layer.
 *
 * Threads: the application thread (save_config), like the controller
 * fields it reads.
 */
#include "vhost_dev.h"

void
vhost_ctrlr_write_coalescing_config(struct vhost_ctrlr *c, uint32_t default_delay_us,
				    uint32_t default_iops_threshold, json_t *config)
{
	if (c->coalesce_delay_us == default_delay_us &&
	    c->coalesce_iops_threshold == default_iops_threshold)
		return;
	json_array_append_new(config,
			      json_pack("{s:s, s:{s:s, s:I, s:I}}", "method",
					"vhost_controller_set_coalescing", "params", "ctrlr",
					c->name, "delay_base_us",
					(json_int_t)c->coalesce_delay_us, "iops_threshold",
					(json_int_t)c->coalesce_iops_threshold));
}
