/* cli/cmd_kb.c: `kbox docs`. Not built yet: it says so plainly and exits 3. */
#include "cli/cli.h"

int cmd_docs(struct cli *c)
{
    (void)c;
    return cli_not_built("docs");
}

int cmd_search(struct cli *c)
{
    (void)c;
    return cli_not_built("search");
}

int cmd_ask(struct cli *c)
{
    (void)c;
    return cli_not_built("ask");
}
