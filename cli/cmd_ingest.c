/* cli/cmd_ingest.c: `kbox ingest`. Not built yet: it says so plainly and exits 3. */
#include "cli/cli.h"

int cmd_ingest(struct cli *c)
{
    (void)c;
    return cli_not_built("ingest");
}
