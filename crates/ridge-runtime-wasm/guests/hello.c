// A JSON function in C: reads the input object from stdin, greets the `name` it holds, and logs
// to stderr. Build: clang-14 --target=wasm32-wasi -O2 -fuse-ld=lld hello.c -o hello.wasm
#include <stdio.h>
#include <string.h>

int main(void) {
    static char input[65536];
    size_t n = fread(input, 1, sizeof input - 1, stdin);
    input[n] = '\0';
    fprintf(stderr, "received %zu bytes\n", n);

    // A real function would use a JSON parser; this one finds "name": "<value>".
    const char *name = "world";
    char value[256];
    const char *key = strstr(input, "\"name\"");
    if (key) {
        const char *open = strchr(key + 6, '"');
        const char *close = open ? strchr(open + 1, '"') : NULL;
        if (close && (size_t)(close - open - 1) < sizeof value) {
            memcpy(value, open + 1, (size_t)(close - open - 1));
            value[close - open - 1] = '\0';
            name = value;
        }
    }
    printf("{\"greeting\": \"hello, %s\", \"bytes\": %zu}\n", name, n);
    return 0;
}
