export { Address, NameCache, generateLogicalName } from './address.js';
export { Collector, type CollectorOptions, type Response } from './collector.js';
export { Channel, DEFAULT_STATE_TIMEOUT, type ChannelEvents, type ChannelState, type ConnectOptions, type GetStateOptions, type StackSpec } from './channel.js';
export { Digest, type SeqnoRange } from './digest.js';
export {
  AbortError,
  ChannelStateError,
  ConfigError,
  MessageTooLargeError,
  SecurityError,
  TimeoutError,
  TsgroupsError,
  type ErrorCode,
} from './errors.js';
export {
  Event,
  EventType,
  type AnyEvent,
  type EventArgs,
  type EventResult,
  type EventResults,
  type EventTypeValue,
  type PhysicalAddressMapping,
  type PhysicalSend,
  type StateRequest,
} from './event.js';
export { Flag, TRANSIENT_FLAGS, flagsToString, type FlagName } from './flags.js';
export { HeaderRegistry, measureHeader, type HeaderCodec } from './header.js';
export { ConsoleLogger, ScopedLogger, getLogger, setLogger, type LogLevel, type Logger } from './logger.js';
export { RATE_LIMITED_LOG_INTERVAL, RateLimitedLog } from './rate-limited-log.js';
export { jsonMarshaller, utf8Decode, utf8Encode, type Marshaller } from './marshaller.js';
export { Message } from './message.js';
export { MessageIterator, type MessagesOptions } from './message-iterator.js';
export { MessageBatch } from './message-batch.js';
export { BIND_ADDRESS_FORMS, bindAddressError, isIPv4Multicast, resolveBindAddress } from './bind-address.js';
export {
  MAX_DURATION_MS,
  camelToSnake,
  convertProperty,
  parseDuration,
  parseSize,
  snakeToCamel,
  type PropertyDecl,
  type PropertyDecls,
  type PropertyType,
} from './properties.js';
export { PhysicalAddress } from './physical-address.js';
export { Protocol, protocolNameOf, type DownResult, type ProtocolClass } from './protocol.js';
export {
  FIRST_USER_PROTOCOL_ID,
  lookupProtocol,
  registerBuiltinProtocol,
  registerProtocol,
  registeredProtocolNames,
} from './protocol-registry.js';
export { ProtocolStack, type MessageSizeLimit, type Position, type ProtocolRef, type UpHandler } from './protocol-stack.js';
export type { ChannelListener, Receiver } from './receiver.js';
export { closeOnSignals, type CloseOnSignalsOptions } from './signals.js';
export { SeqnoAdd, SeqnoTable, type SeqnoAddResult, type SeqnoTableOptions } from './seqno-table.js';
export { TimeScheduler, type EndOfTurnTask, type ScheduledTask } from './time-scheduler.js';
export { MergeView, View, ViewId } from './view.js';
export {
  addStackDirectory,
  buildStack,
  loadStackXml,
  parseStackXml,
  resolveStack,
  shippedStackNames,
  stackFromXml,
  substituteVariables,
  type ProtocolConfig,
} from './xml-config.js';
export {
  DropReason,
  WIRE_MAGIC,
  WIRE_VERSION,
  datagramEnvelopeSize,
  datagramSize,
  decodeDatagram,
  encodeDatagram,
  type DecodedDatagram,
} from './wire/codec.js';
export { CHECKSUM_TRAILER_SIZE, ChecksumResult, checkDatagramChecksum } from './wire/codec.js';
export { crc32c, crc32cImplementation, crc32cNativeModule, crc32cTable } from './wire/crc32c.js';
export { delimitedSize, int32Size, tagSize, uint32Size, utf8Size, varintSize } from './wire/sizes.js';
export { Reader, Writer } from './wire/protobuf.js';
export { seededRandom } from './random.js';
export { Fifo } from './fifo.js';
