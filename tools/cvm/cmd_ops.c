#include <stdio.h>

#include "backends/backend.h"
#include "commands.h"
#include "graph/schema.h"

static void print_op(const cvm_op_schema *s, void *arg)
{
    (void)arg;
    const cvm_kernel_def *k = cvm_backend_cpu()->find_kernel(s->domain, s->type);
    printf("%s%s%s%s\n", s->domain && s->domain[0] ? s->domain : "", s->domain && s->domain[0] ? "." : "",
           s->type, k ? "" : "  (no CPU kernel)");
}

int cmd_ops(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cvm_schema_each(print_op, NULL);
    return 0;
}
