/* SPDX-License-Identifier: BSD-3-Clause */
/* Private interface between the app lifecycle (app.c) and its RPCs. */
#ifndef SPUR_APP_INTERNAL_H
#define SPUR_APP_INTERNAL_H

#include "spur/rpc.h"

/* framework_wait_init: reply true once the app is running (now or later). */
void app_wait_init(struct spur_rpc_request *req);
/* framework_start_init: start subsystems and config; reply when done. */
void app_start_init(struct spur_rpc_request *req);

void app_register_thread_rpcs(void);

/* --config-autosave (config_autosave.c): start before serving, stop at exit. */
int app_autosave_start(const char *path);
void app_autosave_stop(void);

#endif
