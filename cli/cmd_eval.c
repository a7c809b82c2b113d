/* cli/cmd_eval.c: `kbox eval`. Not built yet: it says so plainly and exits 3. */
#include "cli/cli.h"

int cmd_eval(struct cli *c)
{
    (void)c;
    return cli_not_built("eval");
}
