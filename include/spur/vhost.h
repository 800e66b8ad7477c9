/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The vhost-user target, as the daemon sees it: the subsystems to register
 * (app/spur/modules.c), in order after "bdev": vhost_blk, then vhost_scsi.
 * Controllers are created and managed through their RPCs
 * (vhost_create_blk_controller, vhost_create_scsi_controller,
 * vhost_scsi_controller_add_target / remove_target, vhost_get_controllers,
 * vhost_delete_controller, vhost_controller_set_coalescing); the protocol,
 * guest memory and virtqueues are private to lib/vhost.
 *
 * Log components: "vhost" (protocol), "vhost_blk" and "vhost_scsi" (the
 * device types); register them before the subsystems.
 */
#ifndef SPUR_VHOST_H
#define SPUR_VHOST_H

#include "spur/config.h"

/* vhost-user-blk controllers; depends on "bdev". */
extern const struct spur_subsystem spur_vhost_blk_subsystem;
/*
 * vhost-user-scsi controllers with SCSI targets on bdevs (lib/scsi);
 * depends on "bdev"; register after spur_vhost_blk_subsystem, which
 * carries the RPCs both device types share.
 */
extern const struct spur_subsystem spur_vhost_scsi_subsystem;

#endif
