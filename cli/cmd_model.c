/* cli/cmd_model.c: `kbox model`. Not built yet: it says so plainly and exits 3. */
#include "cli/cli.h"

int cmd_model(struct cli *c)
{
    (void)c;
    return cli_not_built("model");
}
