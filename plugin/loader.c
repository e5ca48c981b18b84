/* SPDX-License-Identifier: MIT */
/*
 * Transport modules: dlopen, one exported init symbol, validate, register
 * (libfabric's provider loading).  Anything rejected is dlclosed at once so
 * a bad module leaves nothing behind; accepted handles belong to the
 * registry, which closes them in rmig_transport_reset().
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <rmig/log.h>

#include "plugin/builtin.h"
#include "plugin/loader.h"
#include "plugin/registry.h"

int rmig_transport_load(const char *path)
{
	const struct rmig_transport_ops *ops;
	rmig_transport_init_fn init;
	char local[PATH_MAX];
	struct stat st;
	char why[200];
	void *h, *sym;
	int r;

	if (stat(path, &st) < 0) {
		r = -errno;
		rmig_error("transport module %s: %s", path, strerror(-r));
		return r;
	}
	/* Anyone could have put code in it, and dlopen() runs it before any check. */
	if (st.st_mode & S_IWOTH) {
		rmig_error("transport module %s: writable by every user (mode %03o): not loaded",
			   path, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	/* dlopen() would search the library path for a bare name; we mean this file. */
	if (!strchr(path, '/')) {
		if ((size_t)snprintf(local, sizeof(local), "./%s", path) >= sizeof(local)) {
			rmig_error("transport module %s: name too long", path);
			return -ENAMETOOLONG;
		}
		path = local;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		rmig_error("transport module %s: cannot load: %s", path, dlerror());
		return -ELIBBAD;
	}
	sym = dlsym(h, RMIG_TRANSPORT_INIT_SYMBOL);
	if (!sym) {
		rmig_error("transport module %s: no symbol %s (not an rmig transport module?)",
			   path, RMIG_TRANSPORT_INIT_SYMBOL);
		r = -ENOEXEC;
		goto close_module;
	}
	/* POSIX guarantees a data pointer from dlsym() converts to a function pointer. */
	memcpy(&init, &sym, sizeof(init));
	ops = init(RMIG_TRANSPORT_ABI_VERSION);
	if (!ops) {
		rmig_error("transport module %s declined to initialise (this rmig speaks transport "
			   "ABI %d)",
			   path, RMIG_TRANSPORT_ABI_VERSION);
		r = -ENODEV;
		goto close_module;
	}
	r = rmig_transport_check(ops, why, sizeof(why));
	if (r < 0) {
		rmig_error("transport module %s rejected: %s", path, why);
		goto close_module;
	}
	r = rmig_transport_add(ops, h);
	if (r == -EEXIST) {
		/* Expected when a transport is both built in and installed as a module. */
		rmig_debug("transport module %s: '%s' is already registered; skipped", path,
			   ops->scheme);
		goto close_module;
	}
	if (r < 0)
		goto close_module;
	rmig_debug("transport '%s' loaded from %s", ops->scheme, path);
	return 0;

close_module:
	dlclose(h);
	return r;
}

static bool is_module_name(const char *name)
{
	size_t n = strlen(name);

	return n > 3 && name[0] != '.' && !strcmp(name + n - 3, ".so");
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the regular "*.so" files in @dir (symlinks followed), sorted. */
static int list_modules(const char *dir, DIR *d, char ***out, size_t *count)
{
	char **names = NULL, **grown, path[4096];
	size_t n = 0, cap = 0;
	struct dirent *de;
	struct stat st;
	int r;

	while ((de = readdir(d))) {
		if (!is_module_name(de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown)
				goto out_of_memory;
			names = grown;
		}
		names[n] = strdup(de->d_name);
		if (!names[n])
			goto out_of_memory;
		n++;
	}
	/* readdir() order is the file system's; sorting makes "first scheme wins" stable. */
	if (n)
		qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*count = n;
	return 0;

out_of_memory:
	rmig_error("out of memory listing transport modules in %s", dir);
	r = -ENOMEM;
	while (n)
		free(names[--n]);
	free(names);
	return r;
}

int rmig_transport_load_dir(const char *dir)
{
	char **names, path[4096];
	size_t count;
	int r, loaded = 0;
	struct stat st;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		if (errno == ENOENT || errno == ENOTDIR) {
			rmig_debug("no transport module directory %s", dir);
			return 0;
		}
		r = -errno;
		rmig_error("cannot read transport module directory %s: %s", dir, strerror(-r));
		return r;
	}
	/* Anyone could have dropped a module in it. */
	if (fstat(dirfd(d), &st) == 0 && (st.st_mode & S_IWOTH)) {
		rmig_error("transport module directory %s: writable by every user (mode %03o): "
			   "nothing loaded from it",
			   dir, (unsigned)(st.st_mode & 07777));
		closedir(d);
		return -EPERM;
	}
	r = list_modules(dir, d, &names, &count);
	closedir(d);
	if (r < 0)
		return r;
	for (size_t i = 0; i < count; i++) {
		int n = snprintf(path, sizeof(path), "%s/%s", dir, names[i]);

		/* A bad module is reported by load() and skipped; the others still count. */
		if (n > 0 && (size_t)n < sizeof(path) && rmig_transport_load(path) == 0)
			loaded++;
		free(names[i]);
	}
	free(names);
	return loaded;
}
