/* fuzz/fuzz_web_host.c: web_host_allowed (web/routes.c), the Host header check against DNS
 * rebinding, on arbitrary bytes: the input is "<allowed_hosts list>\n<Host header>". It must not
 * crash or read out of bounds, and must agree with itself: the same Host always gives the same
 * answer, and a list of "*" allows every Host some list allows. */
#include <stdlib.h>
#include <string.h>

#include "web/web_int.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    static struct web_ctx ctx; /* only allowed_hosts and hosts_port are read */
    char host[1024];
    const unsigned char *nl = memchr(data, '\n', size);
    size_t n_list = nl ? (size_t)(nl - data) : size, n_host = nl ? size - n_list - 1 : 0;
    bool a;
    if (n_list >= sizeof ctx.allowed_hosts || n_host >= sizeof host)
        return 0;
    memcpy(ctx.allowed_hosts, data, n_list);
    ctx.allowed_hosts[n_list] = '\0';
    memcpy(host, nl ? nl + 1 : data, n_host);
    host[n_host] = '\0';
    ctx.hosts_port = 8080;
    a = web_host_allowed(&ctx, host);
    if (a != web_host_allowed(&ctx, host))
        abort();
    memcpy(ctx.allowed_hosts, "*", 2);
    if (a && !web_host_allowed(&ctx, host))
        abort();
    return 0;
}
