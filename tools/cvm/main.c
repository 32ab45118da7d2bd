#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "cvm/cvm.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: cvm COMMAND [ARGS]\n"
            "\n"
            "commands:\n"
            "  run MODEL.onnx [--input NAME=FILE.npy]... [--shape NAME=D0xD1x...]... [--out DIR]\n"
            "                 [--threads N] [--runs K] [--precision fp32|bf16] [--no-optimize]\n"
            "                 [--profile|--profile-all]\n"
            "                 run a raw ONNX graph; missing float inputs get the test pattern\n"
            "                 ((c*97 + h*13 + w*7) %% 256) / 255\n"
            "  ops            list the ONNX operators this build supports\n"
            "  predict MODEL INPUT... [--conf F] [--iou F] [--max-det N] [--class-agnostic]\n"
            "                 [--classes 0,2] [--json] [--rle] [--save DIR] [--threads N]\n"
            "                 [--precision fp32|bf16] [--arch A --task T --classes-file F]\n"
            "                 run a vision model (package folder, model id or .onnx) on images\n"
            "  info MODEL     what a model is and how it is fed\n"
            "  models         the architectures and tasks this build runs\n"
            "  package create|check ...\n"
            "                 build a local package from an ONNX file, or check one\n"
            "  bench MODEL.onnx [--threads N] [--runs K] [--warmup W] [--precision fp32|bf16] [--json]\n"
            "                 time session build and inference of a raw graph (median, p90)\n"
            "  bench MODEL --image FILE [--threads N] [--runs K] [--warmup W] [--json]\n"
            "                 [--precision fp32|bf16] [--arch A --task T]\n"
            "                 time a vision model: load, pre-process, inference, post-process\n"
            "  cache ls | clear [MODEL_ID] [--cache DIR]\n"
            "                 list or remove downloaded model packages\n"
            "  --version      print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("cvm %s\n", CVM_VERSION_STRING);
        return 0;
    }
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0)
        return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "ops") == 0)
        return cmd_ops(argc - 1, argv + 1);
    if (strcmp(cmd, "predict") == 0)
        return cmd_predict(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "models") == 0)
        return cmd_models(argc - 1, argv + 1);
    if (strcmp(cmd, "package") == 0)
        return cmd_package(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "cache") == 0)
        return cmd_cache(argc - 1, argv + 1);
    fprintf(stderr, "cvm: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
