// AES-256-GCM for secrets at rest (access tokens, app secrets, verify tokens) under SECRET_KEY.
// The sealed form is "v1:<iv>:<tag>:<ciphertext>" in base64url; a wrong key or a tampered value fails loudly.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { SecretCipher } from '../sqlite/sqlite-store';

export class SecretBox implements SecretCipher {
  private readonly key: Buffer;

  /** `secretKey`: 32 random bytes as 64 hex characters or base64; any other string is stretched with SHA-256. */
  constructor(secretKey: string) {
    if (/^[0-9a-f]{64}$/i.test(secretKey)) this.key = Buffer.from(secretKey, 'hex');
    else {
      const decoded = Buffer.from(secretKey, 'base64');
      this.key = decoded.length === 32 ? decoded : createHash('sha256').update(secretKey).digest();
    }
  }

  static generateKey(): string {
    return randomBytes(32).toString('hex');
  }

  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join(':');
  }

  decrypt(sealed: string): string {
    const [version, iv, tag, ciphertext] = sealed.split(':');
    if (version !== 'v1' || !iv || !tag || ciphertext === undefined) throw new Error('Not a sealed secret.');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  }
}
