/* SPDX-License-Identifier: BSD-3-Clause */
/* Registration of everything linked into the daemon (modules.c). */
#ifndef SPUR_APP_MODULES_H
#define SPUR_APP_MODULES_H

/* Call once, before spur_app_run(). */
void spur_register_everything(void);

#endif
