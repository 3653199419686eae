// Allocates 1 MiB blocks (touching each) until malloc fails, then reports and exits 1.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Where each block goes, so that the compiler cannot drop the allocations.
static void *volatile last;

int main(void) {
    size_t total = 0;
    for (;;) {
        char *block = malloc(1 << 20);
        if (!block) {
            fprintf(stderr, "malloc failed after %zu MiB\n", total);
            return 1;
        }
        memset(block, 1, 1 << 20);
        last = block;
        total++;
    }
}
