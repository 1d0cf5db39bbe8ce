import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCliArgs } from './receiver-cli';

describe('receiver command line', () => {
  const base = ['wms', '--port', '8080', '--database-url', 'postgres://127.0.0.1/r'];

  it('takes the secrets inline or from files', () => {
    const directory = mkdtempSync(join(tmpdir(), 'receiver-'));
    writeFileSync(join(directory, 'token'), 'tok-from-file\n');
    writeFileSync(join(directory, 'hmac'), 'hmac-from-file');
    const fromFiles = parseCliArgs([...base, '--token-file', join(directory, 'token'), '--hmac-secret-file', join(directory, 'hmac')]);
    expect(fromFiles.options).toMatchObject({ token: 'tok-from-file', hmacSecret: 'hmac-from-file', port: 8080, host: '127.0.0.1' });
    expect(parseCliArgs([...base, '--token', 't', '--hmac-secret', 'h']).options).toMatchObject({ token: 't', hmacSecret: 'h' });
  });

  it('puts the password of --database-password-file into the database URL', () => {
    const directory = mkdtempSync(join(tmpdir(), 'receiver-'));
    writeFileSync(join(directory, 'pg'), 'p@ss:w/rd\n');
    const secrets = ['--token', 't', '--hmac-secret', 'h'];
    const parsed = parseCliArgs([...base, ...secrets, '--database-password-file', join(directory, 'pg')]);
    expect(decodeURIComponent(new URL(parsed.options.databaseUrl).password)).toBe('p@ss:w/rd');
    const withPassword = ['wms', '--port', '1', '--database-url', 'postgres://u:x@h/r', ...secrets];
    expect(() => parseCliArgs([...withPassword, '--database-password-file', join(directory, 'pg')])).toThrow('not both');
  });

  it('takes the signature window in seconds, 300 unless given', () => {
    const secrets = ['--token', 't', '--hmac-secret', 'h'];
    expect(parseCliArgs([...base, ...secrets]).options.signatureWindowSeconds).toBe(300);
    expect(parseCliArgs([...base, ...secrets, '--signature-window-seconds', '30']).options.signatureWindowSeconds).toBe(30);
    expect(() => parseCliArgs([...base, ...secrets, '--signature-window-seconds', '0'])).toThrow('--signature-window-seconds');
  });

  it('refuses a missing, doubled or unreadable secret with the option named', () => {
    expect(() => parseCliArgs([...base, '--hmac-secret', 'h'])).toThrow('--token is required');
    expect(() => parseCliArgs([...base, '--token', 't', '--token-file', '/x', '--hmac-secret', 'h'])).toThrow(
      'give --token or --token-file, not both',
    );
    expect(() => parseCliArgs([...base, '--token-file', '/nonexistent/token', '--hmac-secret', 'h'])).toThrow(
      '--token-file: cannot read /nonexistent/token',
    );
  });
});
