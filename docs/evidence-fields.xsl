<?xml version="1.0" encoding="UTF-8"?>
<!--
  Lists the fields of an LRE Gateway evidence.xml (ETSI EN 319 522-3 shape) as "name: value"
  lines, using only the standard's paths (plus the gateway's extension for its own facts).
  Any XSLT 1.0 processor:  xsltproc docs/evidence-fields.xsl evidence.xml
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:etsi="http://uri.etsi.org/19522/v1#"
    xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
    xmlns:lre="urn:lre-gateway:evidence:2">
  <xsl:output method="text" encoding="UTF-8"/>

  <xsl:template name="line">
    <xsl:param name="name"/>
    <xsl:param name="value"/>
    <xsl:value-of select="concat($name, ': ', $value, '&#10;')"/>
  </xsl:template>

  <xsl:template match="/etsi:Evidence">
    <xsl:call-template name="line">
      <xsl:with-param name="name">EvidenceIdentifier</xsl:with-param>
      <xsl:with-param name="value" select="etsi:EvidenceIdentifier"/>
    </xsl:call-template>
    <xsl:call-template name="line">
      <xsl:with-param name="name">ERDSEventId</xsl:with-param>
      <xsl:with-param name="value" select="etsi:ERDSEventId"/>
    </xsl:call-template>
    <xsl:for-each select="etsi:EventReasons/etsi:EventReason">
      <xsl:call-template name="line">
        <xsl:with-param name="name">EventReason Code</xsl:with-param>
        <xsl:with-param name="value" select="etsi:Code"/>
      </xsl:call-template>
      <xsl:call-template name="line">
        <xsl:with-param name="name">EventReason Details</xsl:with-param>
        <xsl:with-param name="value" select="etsi:Details"/>
      </xsl:call-template>
    </xsl:for-each>
    <xsl:call-template name="line">
      <xsl:with-param name="name">EventTime</xsl:with-param>
      <xsl:with-param name="value" select="etsi:EventTime"/>
    </xsl:call-template>
    <xsl:call-template name="line">
      <xsl:with-param name="name">PolicyID</xsl:with-param>
      <xsl:with-param name="value" select="etsi:EvidenceIssuerPolicyID/etsi:PolicyID"/>
    </xsl:call-template>
    <xsl:apply-templates select="etsi:EvidenceIssuerDetails|etsi:SenderDetails|etsi:RecipientDetails"/>
    <xsl:call-template name="line">
      <xsl:with-param name="name">SubmissionTime</xsl:with-param>
      <xsl:with-param name="value" select="etsi:SubmissionTime"/>
    </xsl:call-template>
    <xsl:call-template name="line">
      <xsl:with-param name="name">AppLayerIdentifier</xsl:with-param>
      <xsl:with-param name="value" select="etsi:UserContentInfo/etsi:AppLayerIdentifier"/>
    </xsl:call-template>
    <xsl:call-template name="line">
      <xsl:with-param name="name">ComposingParts</xsl:with-param>
      <xsl:with-param name="value" select="etsi:UserContentInfo/etsi:ComposingParts"/>
    </xsl:call-template>
    <xsl:for-each select="etsi:UserContentInfo/etsi:PartsInfo/etsi:PartInfo">
      <xsl:call-template name="line">
        <xsl:with-param name="name">PartInfo</xsl:with-param>
        <xsl:with-param name="value" select="concat(etsi:Identifier, ' | ', etsi:ContentType, ' | ',
            ds:DigestMethod/@Algorithm, ' | ', ds:DigestValue)"/>
      </xsl:call-template>
    </xsl:for-each>
    <xsl:for-each select="etsi:Extensions/etsi:Extension/lre:GatewayDetails">
      <xsl:call-template name="line">
        <xsl:with-param name="name">Gateway LetterReference</xsl:with-param>
        <xsl:with-param name="value" select="lre:LetterReference"/>
      </xsl:call-template>
      <xsl:call-template name="line">
        <xsl:with-param name="name">Gateway Subject</xsl:with-param>
        <xsl:with-param name="value" select="lre:Subject"/>
      </xsl:call-template>
      <xsl:call-template name="line">
        <xsl:with-param name="name">Gateway SenderDeclaredName</xsl:with-param>
        <xsl:with-param name="value" select="lre:Sender/lre:DeclaredName"/>
      </xsl:call-template>
      <xsl:call-template name="line">
        <xsl:with-param name="name">Gateway AcceptanceDeadline</xsl:with-param>
        <xsl:with-param name="value" select="lre:AcceptanceDeadline"/>
      </xsl:call-template>
      <xsl:call-template name="line">
        <xsl:with-param name="name">Gateway PreviousEvidenceDigest</xsl:with-param>
        <xsl:with-param name="value" select="lre:PreviousEvidenceDigest"/>
      </xsl:call-template>
    </xsl:for-each>
  </xsl:template>

  <xsl:template match="etsi:EvidenceIssuerDetails|etsi:SenderDetails|etsi:RecipientDetails">
    <xsl:call-template name="line">
      <xsl:with-param name="name" select="concat(local-name(), ' Identifier')"/>
      <xsl:with-param name="value" select="etsi:Identifier"/>
    </xsl:call-template>
    <xsl:for-each select="etsi:Identity/saml:Attribute">
      <xsl:call-template name="line">
        <xsl:with-param name="name" select="concat(local-name(../..), ' ', @FriendlyName)"/>
        <xsl:with-param name="value" select="saml:AttributeValue"/>
      </xsl:call-template>
    </xsl:for-each>
  </xsl:template>
</xsl:stylesheet>
