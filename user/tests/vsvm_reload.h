/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test helpers: vsvm's module parameters, and reloading vsvm with another
 * amount of VRAM (then back with the parameters it had).
 */
#ifndef VSVM_RELOAD_H
#define VSVM_RELOAD_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sysfile.h"

/* vsvm's module parameter @name into @buf, without the newline. */
static int read_param(const char *name, char *buf, size_t size)
{
	char path[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/module/vsvm/parameters/%s", name);
	n = sysfile_read(path, buf, size);
	if (n <= 0)
		return -1;
	if (buf[n - 1] == '\n')
		buf[n - 1] = 0;
	return n;
}

/*
 * Reload vsvm with @vram_mb MiB of VRAM, its other parameters as they are;
 * @restore (of @size bytes) gets the command that loads it as it was. On
 * failure vsvm is loaded as it was again. Return: 0 or -1.
 */
static int vsvm_reload_vram(unsigned int vram_mb, char *restore, size_t size)
{
	char layout[16], nsz[32], vram[16], ndev[16], cmd[256];

	if (read_param("layout", layout, sizeof(layout)) <= 0 ||
	    read_param("notifier_size", nsz, sizeof(nsz)) <= 0 ||
	    read_param("vram_size", vram, sizeof(vram)) <= 0 ||
	    read_param("num_devices", ndev, sizeof(ndev)) <= 0)
		return -1;
	snprintf(restore, size,
		 "modprobe vsvm layout=%s notifier_size=%s vram_size=%s num_devices=%s",
		 layout, nsz, vram, ndev);
	snprintf(cmd, sizeof(cmd),
		 "modprobe vsvm layout=%s notifier_size=%s vram_size=%u num_devices=%s",
		 layout, nsz, vram_mb, ndev);
	if (system("modprobe -r vsvm"))
		return -1;
	if (system(cmd)) {
		if (system(restore))
			fprintf(stderr, "could not load vsvm again: %s\n", restore);
		return -1;
	}
	return 0;
}

/* Load vsvm as vsvm_reload_vram() found it. Return: 0 or -1. */
static int vsvm_reload_restore(const char *restore)
{
	if (system("modprobe -r vsvm") || system(restore))
		return -1;
	return 0;
}

#endif /* VSVM_RELOAD_H */
