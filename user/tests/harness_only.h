/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A test filter for kselftest_harness.h programs: 6.1's harness has none.
 * Include after kselftest_harness.h, then call harness_keep_only() from main()
 * before test_harness_run(). The harness walks its fixture, variant and test
 * lists by their next links, so dropping entries from those lists is enough.
 */
#ifndef HARNESS_ONLY_H
#define HARNESS_ONLY_H

#include <stdbool.h>
#include <string.h>

/* Whether @name is in @list, names separated by ':'. */
static bool harness_listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	for (p = list; p; p = strchr(p, ':')) {
		p += *p == ':';
		if (!strncmp(p, name, n) && (p[n] == ':' || !p[n]))
			return true;
	}
	return false;
}

/*
 * Keep only what @list (NAME[:NAME...]) names: in a fixture with variants,
 * the variants by name (all their tests run); elsewhere the tests by name.
 */
static void harness_keep_only(const char *list)
{
	struct __fixture_metadata *f;

	for (f = __fixture_list; f; f = f->next) {
		struct __fixture_variant_metadata **vlink = &f->variant, *v;
		struct __test_metadata **tlink = &f->tests, *t;

		if (f->variant) {
			for (v = f->variant; v; v = v->next) {
				if (harness_listed(list, v->name)) {
					*vlink = v;
					vlink = &v->next;
				}
			}
			*vlink = NULL;
			/* No variant left: no test either (not one without). */
			if (!f->variant)
				f->tests = NULL;
			continue;
		}
		for (t = f->tests; t; t = t->next) {
			if (harness_listed(list, t->name)) {
				*tlink = t;
				tlink = &t->next;
			}
		}
		*tlink = NULL;
	}
}

/* What TEST_HARNESS_MAIN does besides main(), for programs with their own. */
static void __attribute__((constructor)) __constructor_order_last(void)
{
	if (!__constructor_order)
		__constructor_order = _CONSTRUCTOR_ORDER_BACKWARD;
}

#endif /* HARNESS_ONLY_H */
