/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reading and writing the small files of sysfs, tracefs, procfs and cgroupfs
 * from the selftests and the benchmark (not part of libvsvm).
 */
#ifndef VSVM_SYSFILE_H
#define VSVM_SYSFILE_H

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/*
 * Write @s to @path in one write(), truncating it first (as the shell's ">"
 * does: that is what empties tracefs's trace). Return: 0, the errno of
 * open() or write() negated (a rejected module parameter gives -EINVAL), or
 * -EIO for a short write.
 */
static inline int sysfile_write(const char *path, const char *s)
{
	ssize_t len = strlen(s), n;
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	n = n < 0 ? -errno : n == len ? 0 : -EIO;
	close(fd);
	return n;
}

/*
 * Read @path into @buf, NUL-terminated, up to @size - 1 bytes (more is cut).
 * Return: the number of bytes read, or the errno of open() or read() negated.
 */
static inline ssize_t sysfile_read(const char *path, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (total < (ssize_t)size - 1 &&
	       (n = read(fd, buf + total, size - 1 - total)) != 0) {
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		total += n;
	}
	buf[total] = 0;
	close(fd);
	return total;
}

#endif /* VSVM_SYSFILE_H */
