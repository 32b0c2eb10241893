// The sample template catalog every WABA gets unless a test sets its own: one template per shape the
// service must handle (positional, named, media and text headers, buttons, no params, non-approved, two languages).

import type { MessageTemplate } from './template-catalog';

/** Payload and label of the opt-out quick reply in `summer_sale`, echoed by a button tap (CLOUD_API.md §7). */
export const STOP_PROMOTIONS = 'Stop promotions';

/** How many filler templates pad the catalog past one default page (25), so clients must follow `paging.next`. */
const FILLER_COUNT = 18;

const handwritten: MessageTemplate[] = [
  {
    name: 'summer_sale',
    language: 'en_US',
    status: 'APPROVED',
    category: 'MARKETING',
    parameter_format: 'POSITIONAL',
    components: [
      { type: 'HEADER', format: 'TEXT', text: 'Summer sale' },
      {
        type: 'BODY',
        text: 'Hi {{1}}, enjoy {{2}} off everything this week only!',
        example: { body_text: [['Maria', '25%']] },
      },
      { type: 'FOOTER', text: 'Not interested? Tap Stop promotions' },
      {
        type: 'BUTTONS',
        buttons: [
          {
            type: 'URL',
            text: 'Shop now',
            url: 'https://shop.example.com/sale/{{1}}',
            example: ['https://shop.example.com/sale/SUMMER25'],
          },
          { type: 'QUICK_REPLY', text: STOP_PROMOTIONS },
        ],
      },
    ],
  },
  {
    name: 'summer_sale',
    language: 'es',
    status: 'APPROVED',
    category: 'MARKETING',
    parameter_format: 'POSITIONAL',
    components: [
      { type: 'HEADER', format: 'TEXT', text: 'Rebajas de verano' },
      {
        type: 'BODY',
        text: 'Hola {{1}}, ¡disfruta de {{2}} de descuento en todo esta semana!',
        example: { body_text: [['María', '25%']] },
      },
      { type: 'FOOTER', text: '¿No te interesa? Pulsa Stop promotions' },
      {
        type: 'BUTTONS',
        buttons: [
          {
            type: 'URL',
            text: 'Comprar',
            url: 'https://shop.example.com/rebajas/{{1}}',
            example: ['https://shop.example.com/rebajas/VERANO25'],
          },
          { type: 'QUICK_REPLY', text: STOP_PROMOTIONS },
        ],
      },
    ],
  },
  {
    name: 'order_update',
    language: 'en_US',
    status: 'APPROVED',
    category: 'UTILITY',
    parameter_format: 'NAMED',
    components: [
      {
        type: 'BODY',
        text: 'Hi {{first_name}}, your order {{order_id}} has shipped and is on its way.',
        example: {
          body_text_named_params: [
            { param_name: 'first_name', example: 'Jessica' },
            { param_name: 'order_id', example: 'SB-1001' },
          ],
        },
      },
    ],
  },
  {
    name: 'order_update',
    language: 'es',
    status: 'APPROVED',
    category: 'UTILITY',
    parameter_format: 'NAMED',
    components: [
      {
        type: 'BODY',
        text: 'Hola {{first_name}}, tu pedido {{order_id}} ya está en camino.',
        example: {
          body_text_named_params: [
            { param_name: 'first_name', example: 'Jésica' },
            { param_name: 'order_id', example: 'SB-1001' },
          ],
        },
      },
    ],
  },
  {
    name: 'new_arrivals',
    language: 'en_US',
    status: 'APPROVED',
    category: 'MARKETING',
    parameter_format: 'POSITIONAL',
    components: [
      {
        type: 'HEADER',
        format: 'IMAGE',
        example: { header_handle: ['https://scontent.whatsapp.net/v/t61.29466-34/new-arrivals.jpg'] },
      },
      { type: 'BODY', text: 'Hi {{1}}, our new collection just landed.', example: { body_text: [['Maria']] } },
    ],
  },
  {
    name: 'invoice_ready',
    language: 'en_US',
    status: 'APPROVED',
    category: 'UTILITY',
    parameter_format: 'POSITIONAL',
    components: [
      {
        type: 'HEADER',
        format: 'DOCUMENT',
        example: { header_handle: ['https://scontent.whatsapp.net/v/t61.29466-34/invoice.pdf'] },
      },
      { type: 'BODY', text: 'Invoice {{1}} for {{2}} is attached.', example: { body_text: [['INV-7', '$42.00']] } },
    ],
  },
  {
    name: 'appointment_reminder',
    language: 'en_US',
    status: 'APPROVED',
    category: 'UTILITY',
    parameter_format: 'POSITIONAL',
    components: [
      { type: 'HEADER', format: 'TEXT', text: 'Reminder for {{1}}', example: { header_text: ['Maria'] } },
      {
        type: 'BODY',
        text: 'Your appointment is on {{1}} at {{2}}. Reply to reschedule.',
        example: { body_text: [['June 3', '10:00']] },
      },
    ],
  },
  {
    name: 'hello_world',
    language: 'en_US',
    status: 'APPROVED',
    category: 'UTILITY',
    parameter_format: 'POSITIONAL',
    components: [
      { type: 'HEADER', format: 'TEXT', text: 'Hello World' },
      {
        type: 'BODY',
        text: 'Welcome and congratulations!! This message demonstrates your ability to send a WhatsApp message notification from the Cloud API, hosted by Meta.',
      },
      { type: 'FOOTER', text: 'WhatsApp Business Platform sample message' },
    ],
  },
  {
    name: 'spring_preview',
    language: 'en_US',
    status: 'PENDING',
    category: 'MARKETING',
    parameter_format: 'POSITIONAL',
    components: [{ type: 'BODY', text: 'Hi {{1}}, spring is coming.', example: { body_text: [['Maria']] } }],
  },
  {
    name: 'flash_deal',
    language: 'en_US',
    status: 'REJECTED',
    category: 'MARKETING',
    parameter_format: 'POSITIONAL',
    rejected_reason: 'PROMOTIONAL',
    components: [{ type: 'BODY', text: 'Win a free phone, {{1}}!!!', example: { body_text: [['Maria']] } }],
  },
];

function filler(index: number): MessageTemplate {
  const n = String(index).padStart(2, '0');
  return {
    name: `weekly_digest_${n}`,
    language: 'en_US',
    status: 'APPROVED',
    category: 'UTILITY',
    parameter_format: 'POSITIONAL',
    components: [
      { type: 'BODY', text: `Digest ${n}: {{1}} updates are waiting for you.`, example: { body_text: [['3']] } },
    ],
  };
}

/** A fresh copy of the sample catalog (28 templates); the WABA id is not used in the content. */
export function sampleTemplates(_wabaId: string): MessageTemplate[] {
  const fillers = Array.from({ length: FILLER_COUNT }, (_, i) => filler(i + 1));
  return structuredClone([...handwritten, ...fillers]);
}
