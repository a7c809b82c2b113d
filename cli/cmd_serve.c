/* cli/cmd_serve.c: `kbox serve`. Not built yet: it says so plainly and exits 3. */
#include "cli/cli.h"

int cmd_serve(struct cli *c)
{
    (void)c;
    return cli_not_built("serve");
}
