#ifndef CVM_TOOLS_COMMANDS_H
#define CVM_TOOLS_COMMANDS_H

/* Each returns the process exit code: 0 ok, 1 failure, 2 usage error. */
int cmd_run(int argc, char **argv);
int cmd_ops(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_models(int argc, char **argv);
int cmd_package(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_cache(int argc, char **argv);

#endif
