// The Pulumi program: read config, build, export. Everything else lives in src/ and policies/.
import { runProgram } from "./src/program";

export = runProgram;
