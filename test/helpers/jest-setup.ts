// Tests provoke warnings on purpose (lost acks, dropped datagrams); show only errors unless
// TSGROUPS_LOG asks for more.
process.env.TSGROUPS_LOG ??= 'error';
