/*
 * smaps_flags.h — what the kernel says of a mapping of this process: the
 * VmFlags line of /proc/self/smaps for the mapping that holds an address
 * ("hg": advised to be on transparent huge pages, madvise(MADV_HUGEPAGE)).
 * Include after cmocka.h.
 */
#ifndef TESTS_SMAPS_FLAGS_H
#define TESTS_SMAPS_FLAGS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The VmFlags of the mapping that holds addr, into flags; false if none. */
static inline bool smaps_flags(const void *addr, char *flags, size_t size)
{
        FILE *f = fopen("/proc/self/smaps", "re");
        assert_non_null(f);
        char line[512];
        bool inside = false, found = false;
        while (!found && fgets(line, sizeof(line), f) != NULL) {
                unsigned long lo, hi;
                if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2)
                        inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
                else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
                        snprintf(flags, size, "%s", line + 8);
                        found = true;
                }
        }
        fclose(f);
        return found;
}

#endif
