/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * spur_bdevperf's command line: parsing, validation and the usage text.
 * Runs once in main() before the runtime starts; nothing here is shared
 * with other threads afterwards except the filled, read-only struct bp_opts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdevperf.h"
#include "tool_util.h"

enum {
	OPT_POLL_MODE = 256,
	OPT_SEED,
	OPT_ONCE,
	OPT_PATTERN,
	OPT_FLUSH_AT_END,
};

static const struct option g_long_opts[] = {
	{"config", required_argument, NULL, 'c'},
	{"bdev", required_argument, NULL, 'b'},
	{"queue-depth", required_argument, NULL, 'q'},
	{"io-size", required_argument, NULL, 'o'},
	{"workload", required_argument, NULL, 'w'},
	{"rwmixread", required_argument, NULL, 'M'},
	{"time", required_argument, NULL, 't'},
	{"cpumask", required_argument, NULL, 'm'},
	{"help", no_argument, NULL, 'h'},
	{"poll-mode", required_argument, NULL, OPT_POLL_MODE},
	{"seed", required_argument, NULL, OPT_SEED},
	{"once", no_argument, NULL, OPT_ONCE},
	{"pattern", required_argument, NULL, OPT_PATTERN},
	{"flush-at-end", no_argument, NULL, OPT_FLUSH_AT_END},
	{NULL, 0, NULL, 0},
};

static const struct {
	const char *name;
	enum bp_workload workload;
} g_workloads[] = {
	{"read", BP_READ},
	{"write", BP_WRITE},
	{"randread", BP_RANDREAD},
	{"randwrite", BP_RANDWRITE},
	{"rw", BP_RW},
	{"randrw", BP_RANDRW},
	{"verify", BP_VERIFY},
	{"unmap", BP_UNMAP},
	{"flush", BP_FLUSH},
	{"write_zeroes", BP_WRITE_ZEROES},
	{"reset", BP_RESET},
};

void
bp_usage(FILE *out)
{
	fprintf(out,
		"usage: spur_bdevperf -c CONFIG -w WORKLOAD [options]\n"
		"  -c, --config FILE       configuration creating the bdevs (required)\n"
		"  -b, --bdev NAME         bdev to test (repeatable; default: every unclaimed bdev)\n"
		"  -q, --queue-depth N     requests in flight per job (default 1)\n"
		"  -o, --io-size SIZE      bytes per request: 4096, 4k, 128K, 1M (default 4096)\n"
		"  -w, --workload W        read, write, randread, randwrite, rw, randrw, verify,\n"
		"                          unmap, flush, write_zeroes or reset (verify plus a\n"
		"                          reset every 100 ms)\n"
		"  -M, --rwmixread PCT     reads in percent for rw / randrw (default 50)\n"
		"  -t, --time SEC          run time (default 5)\n"
		"  -m, --cpumask MASK      cores: one job per bdev per core (default 0x1)\n"
		"      --poll-mode MODE    busy, adaptive or interrupt\n"
		"      --seed N            random offsets and verify data (default 1)\n"
		"      --once              write: each block of the range exactly once, in order,\n"
		"                          then flush and stop (-t ignored)\n"
		"      --pattern SEED      write data: the 8-byte little-endian word at bdev byte\n"
		"                          offset o holds (SEED << 48) ^ (o / 8)\n"
		"      --flush-at-end      flush after the last write and wait for it\n"
		"  -h, --help              this text\n"
		"Output: one 'Job: <bdev> core <n>: IOPS .. MiB/s .. avg_lat_us .. p50_us .. p99_us ..\n"
		"p999_us .. max_us .. errors ..' line per job, then 'Total: ...'.\n"
		"Exit status: 0 success, 1 I/O error or verify mismatch, 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg) __attribute__((format(printf, 1, 0)));

static int
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "spur_bdevperf: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	return BP_EXIT_USAGE;
}

/* Needs a read-write descriptor (the layer takes flush for a write too). */
bool
bp_workload_writes(enum bp_workload w)
{
	return w == BP_WRITE || w == BP_RANDWRITE || w == BP_RW || w == BP_RANDRW ||
	       w == BP_VERIFY || w == BP_UNMAP || w == BP_WRITE_ZEROES || w == BP_FLUSH ||
	       w == BP_RESET;
}

bool
bp_workload_verifies(enum bp_workload w)
{
	return w == BP_VERIFY || w == BP_RESET;
}

bool
bp_workload_random(enum bp_workload w)
{
	return w == BP_RANDREAD || w == BP_RANDWRITE || w == BP_RANDRW ||
	       bp_workload_verifies(w) || w == BP_UNMAP || w == BP_FLUSH || w == BP_WRITE_ZEROES;
}

/* The I/O type a workload needs the bdev to support ("write" for mixes). */
const char *
bp_workload_io_name(enum bp_workload w)
{
	switch (w) {
	case BP_READ:
	case BP_RANDREAD:
		return "read";
	case BP_UNMAP:
		return "unmap";
	case BP_FLUSH:
		return "flush";
	case BP_WRITE_ZEROES:
		return "write_zeroes";
	case BP_RESET:
		return "reset";
	default:
		return "write";
	}
}

int
bp_parse_args(int argc, char **argv, struct bp_opts *opts)
{
	uint64_t v;
	int opt, mode;
	bool has_mix = false, has_time = false;

	memset(opts, 0, sizeof(*opts));
	opts->queue_depth = 1;
	opts->io_size = 4096;
	opts->read_percent = 50;
	opts->seconds = 5;
	opts->poll_mode = -1;
	opts->seed = 1;
	while ((opt = getopt_long(argc, argv, "c:b:q:o:w:M:t:m:h", g_long_opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			opts->config_file = optarg;
			break;
		case 'b':
			if (opts->num_bdevs == BP_MAX_BDEVS)
				return usage_error("too many -b (at most 64)%s", "");
			opts->bdevs[opts->num_bdevs++] = optarg;
			break;
		case 'q':
			if (tool_parse_u64(optarg, 65536, &v) != 0 || v == 0)
				return usage_error("-q must be 1 to 65536, not '%s'", optarg);
			opts->queue_depth = (uint32_t)v;
			break;
		case 'o':
			if (tool_parse_size(optarg, &opts->io_size) != 0 || opts->io_size == 0 ||
			    opts->io_size % 512 != 0 || opts->io_size > 64u * 1024 * 1024)
				return usage_error("-o must be a size in bytes (4096, 4k, 128K), a "
						   "multiple of 512 up to 64M, not '%s'", optarg);
			break;
		case 'w':
			opts->workload_name = NULL;
			for (size_t i = 0; i < SPUR_COUNTOF(g_workloads); i++) {
				if (strcmp(optarg, g_workloads[i].name) == 0) {
					opts->workload = g_workloads[i].workload;
					opts->workload_name = g_workloads[i].name;
				}
			}
			if (opts->workload_name == NULL)
				return usage_error("unknown workload '%s'", optarg);
			break;
		case 'M':
			if (tool_parse_u64(optarg, 100, &v) != 0)
				return usage_error("-M must be 0 to 100, not '%s'", optarg);
			opts->read_percent = (uint32_t)v;
			has_mix = true;
			break;
		case 't':
			if (tool_parse_u64(optarg, 86400 * 365, &opts->seconds) != 0 || opts->seconds == 0)
				return usage_error("-t must be a number of seconds, not '%s'", optarg);
			has_time = true;
			break;
		case 'm':
			if (spur_cpuset_parse(&opts->cpumask, optarg) != 0 ||
			    spur_cpuset_count(&opts->cpumask) == 0)
				return usage_error("invalid cpumask '%s'", optarg);
			opts->has_cpumask = true;
			break;
		case 'h':
			bp_usage(stdout);
			return 1;
		case OPT_POLL_MODE:
			mode = spur_poll_mode_parse(optarg);
			if (mode < 0)
				return usage_error("--poll-mode must be busy, adaptive or interrupt, "
						   "not '%s'", optarg);
			opts->poll_mode = mode;
			break;
		case OPT_SEED:
			if (tool_parse_u64(optarg, UINT64_MAX, &opts->seed) != 0)
				return usage_error("--seed must be a number, not '%s'", optarg);
			break;
		case OPT_ONCE:
			opts->once = true;
			break;
		case OPT_PATTERN:
			if (tool_parse_u64(optarg, 0xffff, &opts->pattern_seed) != 0)
				return usage_error("--pattern must be 0 to 65535, not '%s'", optarg);
			opts->has_pattern = true;
			break;
		case OPT_FLUSH_AT_END:
			opts->flush_at_end = true;
			break;
		default:
			bp_usage(stderr);
			return BP_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (opts->config_file == NULL)
		return usage_error("-c CONFIG is required (it creates the bdevs)%s", "");
	if (opts->workload_name == NULL)
		return usage_error("-w WORKLOAD is required%s", "");
	if (has_mix && opts->workload != BP_RW && opts->workload != BP_RANDRW)
		return usage_error("-M only applies to rw and randrw, not %s",
				   opts->workload_name);
	if (opts->once && opts->workload != BP_WRITE)
		return usage_error("--once only applies to the write workload, not %s",
				   opts->workload_name);
	if (opts->once && has_time)
		fprintf(stderr, "spur_bdevperf: --once: -t is ignored\n");
	if (opts->has_pattern && opts->workload != BP_WRITE && opts->workload != BP_RANDWRITE &&
	    opts->workload != BP_RW && opts->workload != BP_RANDRW)
		return usage_error("--pattern applies to write, randwrite, rw and randrw, not %s",
				   opts->workload_name);
	return 0;
}
