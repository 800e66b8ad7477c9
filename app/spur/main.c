/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur, the daemon: command-line parsing and start-up only. Everything else
 * lives in lib/ (the app framework in lib/app) and module/.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "modules.h"
#include "spur/app.h"
#include "spur/log.h"
#include "spur_version.h"

extern const char spur_default_config[];

enum {
	OPT_POLL_MODE = 256,
	OPT_SYSLOG,
	OPT_WAIT_FOR_RPC,
	OPT_DEFAULT_CONFIG,
	OPT_RPC_TIMEOUT,
	OPT_VERSION,
	OPT_AUTOSAVE,
};

static const struct option g_long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"rpc-socket", required_argument, NULL, 'r'},
	{"cpumask", required_argument, NULL, 'm'},
	{"vhost-dir", required_argument, NULL, 'S'},
	{"logflag", required_argument, NULL, 'L'},
	{"help", no_argument, NULL, 'h'},
	{"poll-mode", required_argument, NULL, OPT_POLL_MODE},
	{"syslog", no_argument, NULL, OPT_SYSLOG},
	{"wait-for-rpc", no_argument, NULL, OPT_WAIT_FOR_RPC},
	{"default-config", no_argument, NULL, OPT_DEFAULT_CONFIG},
	{"rpc-timeout", required_argument, NULL, OPT_RPC_TIMEOUT},
	{"version", no_argument, NULL, OPT_VERSION},
	{"config-autosave", no_argument, NULL, OPT_AUTOSAVE},
	{NULL, 0, NULL, 0},
};

static void
usage(FILE *out)
{
	fprintf(out,
		"usage: spur [options]\n"
		"  -c, --config FILE       apply FILE (SPDK save_config format) at start-up\n"
		"      --default-config    apply the built-in default configuration (etc/spur.json)\n"
		"      --config-autosave   rewrite the -c FILE atomically after every change\n"
		"                          (a missing FILE means start empty)\n"
		"  -r, --rpc-socket PATH   JSON-RPC Unix socket (default /var/tmp/spur.sock)\n"
		"  -m, --cpumask MASK      cores to run on: 0x3 or [0,1] (default 0x1)\n"
		"  -S, --vhost-dir DIR     directory for vhost-user sockets (default .)\n"
		"      --poll-mode MODE    busy, adaptive (default) or interrupt\n"
		"  -L, --logflag FLAG      enable debug messages of a component (repeatable)\n"
		"      --syslog            log to syslog instead of stderr\n"
		"      --wait-for-rpc      start only the RPC server; initialize on framework_start_init\n"
		"      --rpc-timeout SEC   drop RPC clients idle this long (default 60)\n"
		"  -h, --help              this text\n"
		"      --version           print the version\n");
}

static int
parse_uint(const char *text, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || *out > max || text[0] == '-')
		return -EINVAL;
	return 0;
}

int
main(int argc, char **argv)
{
	struct spur_app_opts opts;
	const char *flags[64];
	size_t num_flags = 0;
	bool use_syslog = false, use_default = false;
	unsigned long seconds;
	struct stat st;
	int opt, mode, rc;

	spur_app_opts_init(&opts, sizeof(opts));
	while ((opt = getopt_long(argc, argv, "c:r:m:S:L:h", g_long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			opts.config_file = optarg;
			break;
		case 'r':
			opts.rpc_path = optarg;
			break;
		case 'm':
			rc = spur_cpuset_parse(&opts.cpumask, optarg);
			if (rc != 0 || spur_cpuset_count(&opts.cpumask) == 0) {
				fprintf(stderr, "spur: invalid cpumask '%s'\n", optarg);
				return 2;
			}
			break;
		case 'S':
			opts.vhost_dir = optarg;
			break;
		case 'L':
			if (num_flags == SPUR_COUNTOF(flags)) {
				fprintf(stderr, "spur: too many -L flags\n");
				return 2;
			}
			flags[num_flags++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_POLL_MODE:
			mode = spur_poll_mode_parse(optarg);
			if (mode < 0) {
				fprintf(stderr, "spur: --poll-mode must be busy, adaptive or interrupt\n");
				return 2;
			}
			opts.poll_mode = mode;
			break;
		case OPT_SYSLOG:
			use_syslog = true;
			break;
		case OPT_WAIT_FOR_RPC:
			opts.wait_for_rpc = true;
			break;
		case OPT_DEFAULT_CONFIG:
			use_default = true;
			break;
		case OPT_RPC_TIMEOUT:
			if (parse_uint(optarg, 86400, &seconds) != 0 || seconds == 0) {
				fprintf(stderr, "spur: --rpc-timeout must be 1 to 86400 seconds\n");
				return 2;
			}
			opts.rpc_idle_timeout_ms = (uint32_t)seconds * 1000;
			break;
		case OPT_AUTOSAVE:
			opts.config_autosave = true;
			break;
		case OPT_VERSION:
			printf("spur v%s\n", SPUR_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "spur: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (use_default && opts.config_file != NULL) {
		fprintf(stderr, "spur: -c and --default-config exclude each other\n");
		return 2;
	}
	if (opts.config_autosave && opts.config_file == NULL) {
		fprintf(stderr, "spur: --config-autosave needs -c FILE\n");
		return 2;
	}
	if (use_default) {
		opts.config_text = spur_default_config;
		opts.config_source = "embedded default configuration (etc/spur.json)";
	}
	if (stat(opts.vhost_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "spur: -S %s is not a directory\n", opts.vhost_dir);
		return 2;
	}

	spur_register_everything();
	for (size_t i = 0; i < num_flags; i++) {
		if (spur_log_set_flag(flags[i]) != 0) {
			fprintf(stderr, "spur: unknown log flag '%s'\n", flags[i]);
			return 2;
		}
	}
	if (num_flags > 0 && spur_log_get_level() < SPUR_LOG_INFO)
		spur_log_set_level(SPUR_LOG_INFO);
	if (use_syslog)
		spur_log_open_syslog("spur");

	rc = spur_app_run(&opts);
	spur_log_close();
	return rc;
}
