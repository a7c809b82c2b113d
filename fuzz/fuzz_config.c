/* fuzz/fuzz_config.c: the config file reader on arbitrary bytes. It must return 0 or KB_ECONFIG
 * (never crash, never leak) and leave the config untouched on error. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    char path[64];
    struct config c;
    struct kb_error err = {0};
    snprintf(path, sizeof path, "/tmp/kbox-fuzz-config-%d.json", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    config_init(&c);
    int rc = config_load_file(&c, path, &err);
    if (rc != 0 && rc != KB_ECONFIG)
        abort();
    if (rc != 0 && c.server_port != 8080)
        abort();
    config_release(&c);
    return 0;
}
