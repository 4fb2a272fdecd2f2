// protobufjs' runtime (the reader and writer the generated static code uses), loaded once.
import protobuf from 'protobufjs/minimal.js';

export type Reader = protobuf.Reader;
export type Writer = protobuf.Writer;
export const Reader = protobuf.Reader;
export const Writer = protobuf.Writer;
