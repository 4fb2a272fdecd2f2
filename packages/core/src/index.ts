export { Address, NameCache, generateLogicalName } from './address.js';
export { Channel, type ChannelEvents, type ChannelState, type ConnectOptions, type StackSpec } from './channel.js';
export { Digest, type SeqnoRange } from './digest.js';
export {
  AbortError,
  ChannelStateError,
  ConfigError,
  TimeoutError,
  TsgroupsError,
  type ErrorCode,
} from './errors.js';
export { Event, EventType, type EventTypeValue } from './event.js';
export { Flag, TRANSIENT_FLAGS, flagsToString, type FlagName } from './flags.js';
export { HeaderRegistry, type HeaderCodec } from './header.js';
export { ConsoleLogger, ScopedLogger, getLogger, setLogger, type LogLevel, type Logger } from './logger.js';
export { jsonMarshaller, utf8Decode, utf8Encode, type Marshaller } from './marshaller.js';
export { Message } from './message.js';
export { MessageBatch } from './message-batch.js';
export {
  camelToSnake,
  convertProperty,
  parseDuration,
  parseSize,
  snakeToCamel,
  type PropertyDecl,
  type PropertyDecls,
  type PropertyType,
} from './properties.js';
export { Protocol, type DownResult, type ProtocolClass } from './protocol.js';
export { lookupProtocol, registerProtocol, registeredProtocolNames } from './protocol-registry.js';
export { ProtocolStack, type Position, type ProtocolRef, type UpHandler } from './protocol-stack.js';
export type { ChannelListener, Receiver } from './receiver.js';
export { TimeScheduler, type ScheduledTask } from './time-scheduler.js';
export { MergeView, View, ViewId } from './view.js';
export { buildStack, loadStackXml, parseStackXml, substituteVariables, type ProtocolConfig } from './xml-config.js';
export { DropReason, WIRE_MAGIC, WIRE_VERSION, decodeDatagram, encodeDatagram, type DecodedDatagram } from './wire/codec.js';
export { Reader, Writer } from './wire/protobuf.js';
