//! TLS over ureq's TCP (or CONNECT-tunnelled) connection, with a rustls config of ours. ureq's
//! own TLS connector keeps the rustls connection to itself, and with it whether a handshake
//! resumed an earlier session; this one counts each handshake, full or resumed, in
//! [`crate::metrics`]. The config (server trust, client certificate, session cache) belongs to
//! one agent, as ureq's did, so a rotated certificate's sessions are never resumed by its
//! successor. The pinned connection of [`super::pinned`] is this connector with another verifier.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind, StreamOwned};
use ureq::Error;
use ureq::unversioned::transport::{
    Buffers, ChainedConnector, ConnectProxyConnector, ConnectionDetails, Connector, Either,
    LazyBuffers, NextTimeout, TcpConnector, Transport, TransportAdapter,
};

/// An agent's connections: through an HTTP(S) proxy's CONNECT tunnel when one applies, else TCP,
/// then TLS with [`TlsConnector`] (ureq's default chain, with our TLS; SOCKS proxies are refused
/// by the configuration reader).
pub(super) type TlsChain = ChainedConnector<
    (),
    ChainedConnector<(), ChainedConnector<(), (), ConnectProxyConnector>, TcpConnector>,
    TlsConnector,
>;

/// The connector chain of an agent whose TLS is `config`.
pub(super) fn tls_chain(config: Arc<ClientConfig>) -> TlsChain {
    ().chain(ConnectProxyConnector::default())
        .chain(TcpConnector::default())
        .chain(TlsConnector { config })
}

/// Adds TLS to an `https://` connection that has none yet (an `https://` proxy's own TLS is
/// not the target's: ureq's tunnel says it is not TLS).
#[derive(Debug)]
pub(super) struct TlsConnector {
    pub(super) config: Arc<ClientConfig>,
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or(Error::Tls("no host to connect to"))?;
        // An IPv6 literal comes bracketed in the URI.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| Error::Tls("the host is not a valid TLS server name"))?;
        let mut connection = ClientConnection::new(self.config.clone(), name)?;
        let mut socket = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        socket.set_timeout(details.timeout);
        connection.complete_io(&mut socket)?;
        crate::metrics::handshake(connection.handshake_kind() == Some(HandshakeKind::Resumed));
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream: StreamOwned::new(connection, socket),
        })))
    }
}

pub(super) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport").finish_non_exhaustive()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}
